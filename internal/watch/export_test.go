package watch

import "context"

// InjectError delivers err to a running w as if fsnotify had sent it on
// its Errors channel.
func InjectError(ctx context.Context, w *Watcher, err error) error {
	select {
	case w.hooks.inject <- err:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetBlind makes a running w drop every fsnotify event, as the kernel does
// when its queue overflows.
func SetBlind(w *Watcher, blind bool) { w.hooks.blind.Store(blind) }

// Dropped is the number of events dropped while blind.
func Dropped(w *Watcher) int64 { return w.hooks.dropped.Load() }

// SetFastJSON turns off (or back on) the fast path that hands a whole JSON
// definition over without waiting for quiet. Call it before Run.
func SetFastJSON(w *Watcher, on bool) { w.fastJSON = on }
