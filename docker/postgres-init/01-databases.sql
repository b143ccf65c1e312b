-- One PostgreSQL server, separate databases: the warehouse, Airflow's metadata, MLflow's store and
-- Superset's metadata.
create database warehouse;
create database airflow;
create database mlflow;
create database superset;
