// Package plan owns the model of `omsecrets plan`: how many calls a fleet
// of sidecars makes to each store, against the store's published quota.
//
// It owns:
//
//   - counting: the unique secret ids (the fetch unit) per store, from
//     the reconcile results of a count-only pass over definitions
//     (FromResults: Uses, and the references of stores whose ids are
//     values), or from a running sidecar's /status document (FromStatus:
//     fetched with a bounded size and a time limit, not trusted, its
//     unknown stores and unparsable references skipped and counted); and
//     the definitions that could not be counted, each with its first
//     problem in one printable line;
//   - reading the store costs from the specs the caller passes
//     (resolver.Spec.Costs: the published quota of the operation a full
//     read uses and of the one its change detection uses, where each is
//     published, and how a refresh with change detection is counted:
//     listing operation, ids per page, whether the listing needs the ids'
//     shared name prefix). The package names no store. run reads
//     PublishedQuota too, for the quota metric beside each store's call
//     rate;
//   - the arithmetic (Make): calls per pass (ceil(ids / batch size)) and
//     per refresh, the fleet's rates, the start-up burst and its drain
//     time at the quota, and a warning with the refresh interval that
//     brings a rate above half a quota to half;
//   - the report: Plan, whose JSON field names are stable, and its table
//     (WriteTable).
//
// It does not own flags, environment variables, exit codes or where the
// report goes (cmd/omsecrets parses --pods, --from-status and --output,
// checks the URL and writes the report); nor which stores exist, their
// batch sizes and their costs (the caller passes the resolver.Spec table,
// each store package its Spec); nor reading
// definitions, building stores or the count-only pass (cmd builds the
// session, internal/reconcile's CollectOnly stops before any reference is
// fetched). It fetches no secret: its only I/O is the /status request.
// No value appears in a plan: the ids of stores whose ids are values are
// counted and never printed, and the problems it words are the
// pipeline's, which hold none.
package plan
