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
