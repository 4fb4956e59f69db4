// Package k8s implements a resolver store over Kubernetes Secrets, the
// store of OpenMetadata's "kubernetes" secrets manager: it reads the
// Secrets of one namespace with k8s.io/client-go, one GET by name per
// secret, and watches each Secret it read so that a change reaches the
// files at once.
//
// # Ids
//
// An id names a Secret in one of the two forms OpenMetadata's server has
// written to its database:
//
//   - the Secret's name, such as
//     "openmetadata-database-mysql-prod-authtype-password": servers with
//     PR #25988 (merged 2026-02-19; an incompatible change), which build
//     the name themselves ('-' separator, characters other than
//     A-Z, a-z, 0-9 and '-' replaced by '-', lower-cased, runs of '-'
//     collapsed, cut to 253 characters) and store "secret:<name>". The id
//     is used as is; it must be a valid Secret name, a lowercase RFC 1123
//     subdomain of at most 253 characters.
//   - a "/"-style id, such as
//     "/openmetadata/database/mysql_prod/authtype/password": servers
//     from the Kubernetes secrets manager's introduction (PR #22516, July
//     2025; documented from the 1.10 docs) to PR #25988. They stored the
//     value under a name derived from the id, and that derivation is
//     applied (LegacyName): leading '/' removed, characters other than
//     A-Z, a-z, 0-9 and '-' replaced by '-', lower-cased, runs of '-'
//     collapsed, leading and trailing '-' removed, a name longer than 253
//     characters cut to 240 followed by '-' and the hex Java hashCode of
//     the id, and "om-" in front of an empty name. OpenMetadata's first
//     Python client hashed long names with MD5 instead and could not read
//     them; this store reads what the server wrote.
//
// Any other id (upper case, '_', a control character, more than 4096
// bytes, ...) is resolver.ErrBadRef with a one-line reason, without a
// call.
//
// # Values
//
// A Secret holds several named values (its data keys), so the store is a
// resolver.KeyedValues: "secret:<id>" reads data key "value" (where
// OpenMetadata's server writes, as its Python client reads), and
// "secret:<id>#<key>" reads data key <key>. Get returns all the data keys
// as one JSON object of strings, so that references to several keys of
// one Secret cost one GET. client-go has already decoded the base64. A
// value that is the literal "null" (what older OpenMetadata servers
// stored for an empty field) is JSON null. A value that is not UTF-8 text
// (a keystore, say) cannot be carried in the object: its key holds false
// instead, so that a reference to it fails as resolver.ErrBadRef saying
// the key is not text, while the Secret's other keys resolve.
//
// # Calls
//
// One GET /api/v1/namespaces/<ns>/secrets/<name> per id fetch; never LIST.
// The client makes exactly one attempt per call and has no rate limiter
// of its own (client-go's retries of 429 and 5xx and its token bucket are
// off): the resolver retries with its policy and limits with Spec.Limit,
// so that its count of calls is the API server's. A GET is bounded by
// DefaultRequestTimeout when the caller's context allows longer. When the
// API server refuses the token (401) the store reads its credentials
// again (the service account token file, or the kubeconfig) and retries
// once: kubelet rotates projected tokens, and client-go re-reads the file
// only once a minute.
//
// # Watches
//
// Once the resolver has set a Notify function (resolver.ChangeNotifier),
// the store watches every distinct Secret it read, found or not, with
// one watch each (fieldSelector metadata.name=<name>, which RBAC checks
// against resourceNames like a GET), from the resource version of the
// read. It notifies the ids read from a Secret when it is added,
// modified or deleted. Bookmarks keep the watch's place, so a watch the
// server ended, a dropped connection or an API server restart resumes
// where it stopped and replays what changed meanwhile; when the server no
// longer has that place (410 Gone), the store reads the Secret again,
// notifies, and watches from there. Reconnects back off from 200ms to
// 15s. A watch RBAC refuses is logged once (a warning) and changes then
// reach the files by the periodic refresh; it is tried again silently,
// from 5s up to every 10 minutes. At most Options.MaxWatches Secrets
// (DefaultMaxWatches, 1000) are watched; the store logs once when it
// reaches the limit. A Secret none of whose ids is used any more
// (resolver.Forgetter: the daemon reports the secrets no definition reads)
// is no longer watched and its goroutine ends, so the limit counts the
// Secrets in use, not every Secret ever read. Watches end with Store.Close
// (the session closes its stores) or the context given to Spec.Open or
// New. Measured against a real kube-apiserver, an update reaches the
// Notify function in about 5ms (p99 10 to 20ms over 20 to 50 updates).
//
// A value's version token is the Secret's resourceVersion. The store is a
// resolver.ChangeLister without a call: it vouches for a held value while
// the Secret's watch is open and the resourceVersion the watch last saw is
// the value's.
//
// # Configuration
//
// Settings (cmd adds the OMSECRETS_ twin of each, which wins):
//
//   - kubernetes-namespace (AIRFLOW__OPENMETADATA_SECRETS_MANAGER__KUBERNETES_NAMESPACE,
//     KUBERNETES_NAMESPACE): the namespace; default the pod's own
//     (/var/run/secrets/kubernetes.io/serviceaccount/namespace), else
//     "default", as OpenMetadata's clients do. A kubeconfig context's
//     namespace is not used (OpenMetadata does not use it either).
//   - kubernetes-in-cluster (..._KUBERNETES_IN_CLUSTER,
//     KUBERNETES_IN_CLUSTER): true, false (also 1/0, yes/no, on/off) or
//     unset.
//   - kubernetes-kubeconfig-path (..._KUBERNETES_KUBECONFIG_PATH,
//     KUBERNETES_KUBECONFIG_PATH): a kubeconfig file.
//
// Where the credentials come from, in this order: the pod's service
// account if kubernetes-in-cluster is true (KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT must be set); the kubeconfig-path file if set;
// the files of $KUBECONFIG that exist; ~/.kube/config ($HOME) if it
// exists; unless kubernetes-in-cluster is false, the pod's service
// account if KUBERNETES_SERVICE_HOST and _PORT are set and its token is
// mounted. Otherwise the store is not configured. All variables come from
// StoreConfig.Env, never the process environment. Only an explicit
// setting whose target is missing fails Open; a stale $KUBECONFIG or a
// pod without a mounted token leave the store off. The in-cluster client
// trusts the pod's ca.crt and sends the service account token
// (/var/run/secrets/kubernetes.io/serviceaccount/token), which it reads
// again as kubelet rotates it. A kubeconfig may use any authentication
// client-go supports (tokens, client certificates, exec plugins).
//
// # Errors
//
// 404 is resolver.ErrNotFound, naming the namespace and the Secret (and
// the id it maps from); a missing data key is resolver.ErrNotFound naming
// the key (from the resolver). 403 is resolver.ErrPermission, quoting the
// API server's message, which names the user and the verb RBAC refused.
// With resourceNames, RBAC refuses a Secret that is not listed before it
// looks it up, so a missing, unlisted Secret is a 403 too. 401 after the
// credentials were read again, an untrusted server certificate and any
// other 4xx are resolver.ErrPermission; 429 is resolver.Throttled with the
// server's Retry-After; 5xx, timeouts and network failures are
// resolver.ErrUnavailable (with Retry-After when sent). Messages name the
// id, the Secret, the namespace, the HTTP status and the server's reason;
// never a value, a token or a response body.
//
// # RBAC
//
// The store needs get and watch on the Secrets it reads, in their
// namespace; nothing else (no list). A Role with resourceNames lists the
// Secrets, including those not created yet (OpenMetadata names them after
// the entities), since RBAC refuses unlisted names even when they do not
// exist. Without watch the store works, logs one warning and relies on
// the periodic refresh. Without resourceNames the Role covers every Secret
// of the namespace, as OpenMetadata's documented Role does: then keep
// OpenMetadata's Secrets in a namespace of their own.
//
//	apiVersion: rbac.authorization.k8s.io/v1
//	kind: Role
//	metadata:
//	  name: omsecrets-reader
//	  namespace: openmetadata-secrets
//	rules:
//	- apiGroups: [""]
//	  resources: ["secrets"]
//	  verbs: ["get", "watch"]
//	  resourceNames:
//	  - openmetadata-database-mysql-prod-authtype-password
//	  - openmetadata-bot-ingestion-bot-config-jwttoken
//	---
//	apiVersion: rbac.authorization.k8s.io/v1
//	kind: RoleBinding
//	metadata:
//	  name: omsecrets-reader
//	  namespace: openmetadata-secrets
//	subjects:
//	- kind: ServiceAccount
//	  name: airflow-worker
//	  namespace: airflow
//	roleRef:
//	  apiGroup: rbac.authorization.k8s.io
//	  kind: Role
//	  name: omsecrets-reader
//
// The package owns the mapping of ids to Secrets, the reads and the
// watches. It does not cache, retry or rate-limit (Spec.Limit is the
// default limit cmd gives the resolver), and it never writes.
package k8s
