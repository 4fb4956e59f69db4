package daemon

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"omsecrets/internal/reconcile"
)

// TestUsesKeepsChangesOnlyForRunningBatches: a change reported while a
// batch runs is seen by that batch (and not by one started after it), and
// nothing is kept once no batch that could ask runs.
func TestUsesKeepsChangesOnlyForRunningBatches(t *testing.T) {
	t.Parallel()
	u := newUses()
	x := reconcile.SecretID{Store: "env", ID: "x"}
	y := reconcile.SecretID{Store: "env", ID: "y"}

	assert.Empty(t, u.changed("env", []string{"x"}), "no batch, no index: nothing")
	_, _, recent := u.sizes()
	assert.Zero(t, recent, "nothing kept while no batch runs")

	first := u.begin()
	u.changed("env", []string{"x"})
	second := u.begin()
	assert.True(t, u.since(first, []reconcile.SecretID{x}))
	assert.False(t, u.since(first, []reconcile.SecretID{y}))
	assert.False(t, u.since(second, []reconcile.SecretID{x}), "reported before the second batch started")
	u.changed("env", []string{"y"})
	assert.True(t, u.since(second, []reconcile.SecretID{y}))

	u.end(first, nil)
	_, _, recent = u.sizes()
	assert.Equal(t, 1, recent, "x is of no interest to the second batch any more")
	u.end(second, nil)
	_, _, recent = u.sizes()
	assert.Zero(t, recent)

	u.set("a.json", []reconcile.SecretID{x, y})
	assert.Equal(t, []string{"a.json"}, u.changed("env", []string{"y"}))
	u.set("a.json", nil)
	defs, secrets, _ := u.sizes()
	assert.Zero(t, defs+secrets, "a forgotten definition leaves nothing indexed")
}

// TestUsesForgetsUnusedSecrets: a secret that lost its last user is
// forgotten when a batch ends, unless read again meanwhile; a batch
// still running that turns out to read it counts it as changed.
func TestUsesForgetsUnusedSecrets(t *testing.T) {
	t.Parallel()
	u := newUses()
	x := reconcile.SecretID{Store: "k8s", ID: "x"}
	y := reconcile.SecretID{Store: "k8s", ID: "y"}
	z := reconcile.SecretID{Store: "aws", ID: "z"}
	var forgot []string
	forget := func(store string, ids []string) {
		for _, id := range ids {
			forgot = append(forgot, store+":"+id)
		}
	}

	b := u.begin()
	u.set("a.json", []reconcile.SecretID{x, y, z})
	u.set("b.json", []reconcile.SecretID{y})
	u.end(b, forget)
	assert.Empty(t, forgot, "everything is used")

	other := u.begin() // a batch that may read x for a definition not indexed yet
	b = u.begin()
	u.set("a.json", []reconcile.SecretID{x}) // edited: y (still b's) and z no longer read by a
	u.set("b.json", nil)
	u.end(b, forget)
	assert.Equal(t, []string{"aws:z", "k8s:y"}, forgot)
	assert.True(t, u.since(other, []reconcile.SecretID{y}), "the running batch hears of the forgotten y")
	assert.False(t, u.since(other, []reconcile.SecretID{x}))

	forgot = nil
	u.set("a.json", nil)
	u.set("c.json", []reconcile.SecretID{x}) // read again before any batch ended
	u.end(other, forget)
	assert.Empty(t, forgot)
	defs, secrets, kept := u.sizes()
	assert.Equal(t, 1, defs)
	assert.Equal(t, 1, secrets)
	assert.Zero(t, kept, "nothing kept once no batch runs")
}
