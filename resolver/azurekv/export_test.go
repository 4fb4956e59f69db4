package azurekv

import "time"

// SetClock sets the clock p times its reads by (see settleAfter).
func SetClock(p *Provider, now func() time.Time) { p.now = now }
