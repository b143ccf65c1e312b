-- Day-end versions of each credit limit, with the limit in EUR.
{{ versioned_history('raw_finance', 'credit_limits', key='limit_id', columns={
    'limit_id': 'limit_id',
    'account_id': 'customer_id',
    'credit_limit': 'credit_limit',
    'currency': currency_code('currency'),
    'credit_limit_eur': to_eur('credit_limit'),
    'valid_from': 'valid_from',
}, convert_currency=true) }}
