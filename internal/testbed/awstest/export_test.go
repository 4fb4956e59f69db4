package awstest

import "time"

// SetQuotaClock makes the Server's quotas read the time from now instead
// of time.Now; set it before the quotas it should apply to.
func (s *Server) SetQuotaClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}
