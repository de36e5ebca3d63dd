-- Prefect uses the database named by POSTGRES_DB (prefect); MLflow gets its own.
CREATE DATABASE mlflow OWNER gms;
