#!/bin/bash
# initdb (run once by the postgres image's entrypoint, when the data directory is empty): for
# every line of databases.list next to this script, `<database> <role> <password env var>
# [<extension>...]` (rendered from .Values.databases), create the login role, the database it
# owns, and the extensions in that database (as superuser, so the owner needs no rights).
# Why: MLflow and Prefect each get their own database and role, each with its own password.
# Passwords come from the environment (psql's \getenv, psql >= 15), never from a file; the
# statements are idempotent.
set -euo pipefail
while read -r name user password_env extensions; do
  [ -n "$name" ] || continue
  echo "creating role $user and database $name"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
\getenv pw $password_env
\set role_name $user
\set db_name $name
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role_name', :'pw')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role_name')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db_name', :'role_name')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db_name')\gexec
SQL
  if [ -n "$extensions" ]; then
    for extension in $extensions; do
      echo "CREATE EXTENSION IF NOT EXISTS $extension;"
    done | psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$name"
  fi
done < "$(dirname "${BASH_SOURCE[0]}")/databases.list"
