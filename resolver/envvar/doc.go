// Package envvar implements a resolver.Getter that reads each secret from
// one environment variable.
//
// # Mapping
//
// The variable for id is
//
//	name = Prefix + upper(id with every run of characters outside
//	       [A-Za-z0-9] replaced by one '_', leading and trailing '_' trimmed)
//
// with Prefix "OMSECRETS_SECRET_" unless configured otherwise (see VarName).
// For example the id "/openmetadata/database/mysql_prod/authtype/password"
// reads OMSECRETS_SECRET_OPENMETADATA_DATABASE_MYSQL_PROD_AUTHTYPE_PASSWORD,
// and "openmetadata-database-mysql-prod-password" reads
// OMSECRETS_SECRET_OPENMETADATA_DATABASE_MYSQL_PROD_PASSWORD. Non-ASCII
// characters count as outside [A-Za-z0-9]. Ids that differ only in case or
// in their runs of other characters ("a-b", "a_b", "A/B") read the same
// variable.
//
// The prefix exists so that a definition cannot read arbitrary variables of
// the sidecar's process: "secret:/path" reads OMSECRETS_SECRET_PATH, never
// $PATH, and "secret:AWS_SECRET_ACCESS_KEY" reads
// OMSECRETS_SECRET_AWS_SECRET_ACCESS_KEY, never the AWS key.
//
// # Values
//
// A variable that is set is the value, as is (an empty variable is the empty
// value; the literal "null" is returned as is and the Resolver reads it as
// null). An unset variable is resolver.ErrNotFound, and an id with no
// letter or digit (such as "///") is resolver.ErrBadRef.
//
// The package owns only this mapping. It does not load .env files or set
// variables, and it reads the environment on every Get, through the lookup
// function given to New.
package envvar
