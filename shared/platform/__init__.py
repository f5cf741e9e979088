"""The platform every layer stands on: settings, the database (acting as the caller), errors, logs,
JWTs and the HTTP host, storage, migrations, tenancy, users and how times and money are written."""
