-- One PostgreSQL server, separate databases: the warehouse, Airflow's metadata and MLflow's store.
create database warehouse;
create database airflow;
create database mlflow;
