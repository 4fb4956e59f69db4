package resolver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Listing describes how a ChangeLister lists its secrets' metadata, page
// by page, for ListUnchanged: the one skeleton of the stores' Unchanged.
// T is one listed item (a ListSecrets entry, a parameter's metadata).
type Listing[T any] struct {
	// What names the listing in errors ("list secrets").
	What string
	// Need names what the listing needs, for the error of a refused
	// listing ("secretsmanager:ListSecrets on resource \"*\"").
	Need string
	// Budget is the most calls the listing may make: the calls of a full
	// read of the held values (FullReadCalls).
	Budget int
	// Name returns the name under which the listing shows the secret of
	// h, and false for a value the listing cannot vouch for (a token the
	// store cannot interpret, an id it cannot list).
	Name func(h Held) (string, bool)
	// Page makes one listing call and returns its items and whether more
	// pages follow. names are the distinct names of the held values, in
	// order, for a filter; Page keeps its own paging token. Its errors
	// are classed like reads' (ErrPermission, Throttled).
	Page func(ctx context.Context, names []string) (items []T, more bool, err error)
	// Listed returns the name of a listed item, and false to skip it.
	Listed func(item T) (string, bool)
	// Current reports whether h, held under the item's name, is still
	// the item's current value.
	Current func(item T, h Held) bool
}

// ListUnchanged implements ChangeLister.Unchanged with l: it groups held
// by name (each id once; values without a version or that l.Name cannot
// place are left out), lists page by page through p until every name was
// seen or the listing ends, and returns the ids l.Current vouches for. A
// name is settled by the first item listing it. It gives up with an
// error (not ErrPermission) before making more than l.Budget calls; a
// refused listing is ErrPermission, with l.Need in the message.
func ListUnchanged[T any](ctx context.Context, p Pacer, held []Held, l Listing[T]) ([]string, error) {
	want := make(map[string][]Held)
	seen := make(map[string]bool, len(held))
	for _, h := range held {
		if h.Version == "" || seen[h.ID] {
			continue
		}
		name, ok := l.Name(h)
		if !ok {
			continue
		}
		seen[h.ID] = true
		want[name] = append(want[name], h)
	}
	if len(want) == 0 {
		return nil, nil
	}
	names := slices.Sorted(maps.Keys(want))
	var unchanged []string
	for calls := 0; ; calls++ {
		if calls >= l.Budget {
			return nil, fmt.Errorf("%s: %d pages did not cover the %d secrets, and more would cost more than reading them", l.What, calls, len(want))
		}
		var items []T
		var more bool
		err := p.Call(ctx, "list", func(ctx context.Context) error {
			var err error
			items, more, err = l.Page(ctx, names)
			return err
		})
		if errors.Is(err, ErrPermission) {
			return nil, fmt.Errorf("%s (change detection needs %s): %w", l.What, l.Need, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.What, err)
		}
		for _, it := range items {
			name, ok := l.Listed(it)
			if !ok {
				continue
			}
			waiting, ok := want[name]
			if !ok {
				continue
			}
			for _, h := range waiting {
				if l.Current(it, h) {
					unchanged = append(unchanged, h.ID)
				}
			}
			// A name is listed once: its ids are settled either way.
			delete(want, name)
		}
		if len(want) == 0 || !more {
			return unchanged, nil
		}
	}
}
