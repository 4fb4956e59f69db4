// Package awsbatch is the batched reading the two AWS stores (awssm,
// awsssm) share: GetBatch's deduplication, id checks and chunking, the
// fall-back to one call per id once the batch action is denied (logged
// once), reading ids one by one (stopping at the first failure that is
// not the id's own), and the per-id error form of resolver.BatchGetter.
//
// It owns none of the services' calls: each store gives its one-id read
// and its batch call; it does not know AWS error codes (awserr does).
package awsbatch
