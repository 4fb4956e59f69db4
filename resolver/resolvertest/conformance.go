package resolvertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

// Case is one expectation of the conformance suite: what a store's Get
// returns for ID.
type Case struct {
	// Name names the subtest.
	Name string
	// ID is passed to Get.
	ID string
	// Want is the value Get returns when WantErr is nil and WantNull false.
	Want string
	// WantNull expects a value the Resolver reads as JSON null: a Secret
	// that IsNull or the literal "null".
	WantNull bool
	// WantErr, if set, is the error class Get fails with: one of
	// resolver.ErrNotFound, ErrPermission, ErrUnavailable or ErrBadRef.
	WantErr error
}

// Goroutines is how many goroutines the concurrency check of Run uses.
const Goroutines = 32

// rounds is how many times each goroutine of the concurrency check gets
// every case.
const rounds = 4

// Run is the conformance suite every store runs against the cases it sets
// up. It checks that:
//
//   - Get returns each case's value, or an error of exactly the case's class
//     (errors.Is and resolver.Class agree) whose message names the id;
//   - Goroutines goroutines getting every case at once all get the same
//     answers;
//   - Get with a canceled context does not panic, and either answers as
//     usual or fails with an error of one of the resolver classes;
//   - if g is a resolver.BatchGetter, GetBatch over every case id (in calls
//     of at most MaxBatch ids) returns the found values in its map and
//     reports each failing id as a *resolver.RefError with Ref.ID set,
//     Store empty and the case's class, and no error for the others;
//   - a resolver.ChangeLister gives a version token with every value;
//   - no error message seen by any of the above contains a case's value.
//
// The leak check skips empty values and values that occur in a case ID
// (the db store's ids are its values, and messages name ids); give the
// other cases distinctive values that cannot occur in an error message by
// chance. Cases that share an ID must expect the same outcome.
func Run(t *testing.T, g resolver.Getter, cases []Case) {
	t.Helper()
	require.NotNil(t, g, "getter")
	require.NotEmpty(t, cases, "cases")
	for _, c := range cases {
		require.NotEmpty(t, c.Name, "case name")
		if c.WantErr != nil {
			require.NotEqual(t, "error", resolver.Class(c.WantErr), "case %s: WantErr must be a resolver error class", c.Name)
		}
	}

	var leaks leakLog

	t.Run("Get", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				v, err := g.Get(t.Context(), c.ID)
				leaks.add("Get "+c.Name, err)
				checkResult(t, c, v, err)
			})
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for w := range Goroutines {
			wg.Go(func() {
				for r := range rounds {
					// Each goroutine walks the cases from its own offset so
					// that different ids are in flight together.
					for i := range cases {
						c := cases[(i+w+r)%len(cases)]
						v, err := g.Get(t.Context(), c.ID)
						leaks.add("concurrent Get "+c.Name, err)
						if !assertResult(t, c, v, err) {
							return
						}
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("CanceledContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		for _, c := range cases {
			var v resolver.Secret
			var err error
			if !assert.NotPanics(t, func() { v, err = g.Get(ctx, c.ID) }, "case %s: Get with a canceled context", c.Name) {
				continue
			}
			leaks.add("canceled Get "+c.Name, err)
			if err == nil {
				assertValue(t, c, v)
				continue
			}
			assert.NotEqual(t, "error", resolver.Class(err), "case %s: Get with a canceled context failed with an error of no resolver class: %v", c.Name, err)
		}
	})

	t.Run("Versions", func(t *testing.T) {
		_, lister := g.(resolver.ChangeLister)
		for _, c := range cases {
			if c.WantErr != nil || c.WantNull {
				continue
			}
			v, err := g.Get(t.Context(), c.ID)
			leaks.add("versions Get "+c.Name, err)
			if err == nil && lister {
				assert.NotEmpty(t, v.Version(), "case %s: a ChangeLister's value carries no version token", c.Name)
			}
		}
	})

	if bg, ok := g.(resolver.BatchGetter); ok {
		t.Run("GetBatch", func(t *testing.T) { runBatch(t, bg, cases, &leaks) })
	}

	t.Run("NoValueInErrors", func(t *testing.T) { leaks.check(t, cases) })
}

// runBatch is the GetBatch part of Run.
func runBatch(t *testing.T, bg resolver.BatchGetter, cases []Case, leaks *leakLog) {
	require.GreaterOrEqual(t, bg.MaxBatch(), 1, "MaxBatch")
	byID := make(map[string]Case)
	var ids []string
	for _, c := range cases {
		if _, dup := byID[c.ID]; !dup {
			ids = append(ids, c.ID)
		}
		byID[c.ID] = c
	}
	for chunk := range slices.Chunk(ids, bg.MaxBatch()) {
		vals, err := bg.GetBatch(t.Context(), chunk)
		leaks.add("GetBatch", err)
		perID := make(map[string]*resolver.RefError)
		for _, e := range resolver.Unjoin(err) {
			var re *resolver.RefError
			if !assert.ErrorAs(t, e, &re, "GetBatch must report each failing id as a *resolver.RefError") {
				continue
			}
			assert.NotEmpty(t, re.Ref.ID, "RefError.Ref.ID of %v", re)
			assert.Empty(t, re.Store, "RefError.Store of %v", re)
			assert.Contains(t, chunk, re.Ref.ID, "GetBatch reported an id it was not asked for")
			perID[re.Ref.ID] = re
		}
		for _, id := range chunk {
			c := byID[id]
			v, found := vals[id]
			if c.WantErr == nil {
				if assert.True(t, found, "case %s: GetBatch did not return id %q", c.Name, id) {
					assertValue(t, c, v)
				}
				assert.Nil(t, perID[id], "case %s: GetBatch reported an error for an id that resolves", c.Name)
				continue
			}
			assert.False(t, found, "case %s: GetBatch returned a value for an id that fails", c.Name)
			if re := perID[id]; assert.NotNil(t, re, "case %s: GetBatch did not report id %q as a *resolver.RefError", c.Name, id) {
				assert.ErrorIs(t, re, c.WantErr, "case %s", c.Name)
				assert.Equal(t, resolver.Class(c.WantErr), resolver.Class(re), "case %s: class of %v", c.Name, re)
			}
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for chunk := range slices.Chunk(ids, bg.MaxBatch()) {
		var err error
		assert.NotPanics(t, func() { _, err = bg.GetBatch(ctx, chunk) }, "GetBatch with a canceled context")
		leaks.add("canceled GetBatch", err)
	}
}

// checkResult checks one Get outcome, stopping the test on a wrong
// error/no-error outcome.
func checkResult(t *testing.T, c Case, v resolver.Secret, err error) {
	t.Helper()
	if c.WantErr == nil {
		require.NoError(t, err, "case %s", c.Name)
		assertValue(t, c, v)
		return
	}
	require.Error(t, err, "case %s: want an error of class %s", c.Name, resolver.Class(c.WantErr))
	assert.ErrorIs(t, err, c.WantErr, "case %s", c.Name)
	assert.Equal(t, resolver.Class(c.WantErr), resolver.Class(err), "case %s: class of %v", c.Name, err)
	assert.Contains(t, err.Error(), c.ID, "case %s: the error message must name the id", c.Name)
}

// assertResult is checkResult for use off the test goroutine: it never
// stops the test, and reports whether the outcome was right.
func assertResult(t *testing.T, c Case, v resolver.Secret, err error) bool {
	t.Helper()
	if c.WantErr == nil {
		return assert.NoError(t, err, "case %s", c.Name) && assertValue(t, c, v)
	}
	return assert.Error(t, err, "case %s", c.Name) &&
		assert.Equal(t, resolver.Class(c.WantErr), resolver.Class(err), "case %s: class of %v", c.Name, err)
}

// assertValue checks a value Get or GetBatch returned for c.
func assertValue(t *testing.T, c Case, v resolver.Secret) bool {
	t.Helper()
	if c.WantNull {
		return assert.True(t, v.IsNull() || v.Value() == "null", "case %s: want null", c.Name)
	}
	// Compare with Value, not the Secret, so a failure message shows the
	// difference; these are test values.
	return assert.False(t, v.IsNull(), "case %s: got null", c.Name) &&
		assert.Equal(t, c.Want, v.Value(), "case %s", c.Name)
}

// leakLog collects the error messages a store produced during Run.
type leakLog struct {
	mu   sync.Mutex
	msgs map[string]string // message -> where it was seen first
}

func (l *leakLog) add(where string, err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.msgs == nil {
		l.msgs = make(map[string]string)
	}
	msg := err.Error()
	if _, ok := l.msgs[msg]; !ok {
		l.msgs[msg] = where
	}
	// Also check the %+v form: some error types print more with it.
	if verbose := fmt.Sprintf("%+v", err); verbose != msg {
		if _, ok := l.msgs[verbose]; !ok {
			l.msgs[verbose] = where
		}
	}
}

// check fails t if a collected message contains a case value.
func (l *leakLog) check(t *testing.T, cases []Case) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for msg, where := range l.msgs {
		for _, c := range cases {
			if c.WantErr != nil || c.WantNull || c.Want == "" || inAnyID(c.Want, cases) {
				continue
			}
			// Do not print the message: it holds the value.
			assert.False(t, strings.Contains(msg, c.Want), "%s: an error message contains the value of case %s", where, c.Name)
		}
	}
}

func inAnyID(v string, cases []Case) bool {
	return slices.ContainsFunc(cases, func(c Case) bool { return strings.Contains(c.ID, v) })
}
