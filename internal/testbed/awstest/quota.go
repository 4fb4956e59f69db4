package awstest

import (
	"math"
	"slices"
	"time"
)

// Quota groups: the sets of operations that share one of AWS's
// account-wide request rate quotas (per account and region). WithQuota
// and SetQuota take them, QuotaGroup maps a target to its group, and
// PeakRate reports the rate a group saw.
const (
	// QuotaSSMStandard is Parameter Store's standard throughput, shared
	// by GetParameter and GetParameters (and, on AWS, GetParametersByPath,
	// which the Server does not answer).
	QuotaSSMStandard = "ssm:standard-throughput"
	// QuotaDescribeParameters is DescribeParameters' own rate.
	QuotaDescribeParameters = "ssm:DescribeParameters"
	// QuotaBatchGetSecretValue is BatchGetSecretValue's own rate.
	QuotaBatchGetSecretValue = "secretsmanager:BatchGetSecretValue"
	// QuotaGetSecretValue is the rate GetSecretValue shares with
	// DescribeSecret (which the Server does not answer).
	QuotaGetSecretValue = "secretsmanager:GetSecretValue"
	// QuotaListSecrets is ListSecrets' own rate.
	QuotaListSecrets = "secretsmanager:ListSecrets"
)

// quotaGroups maps each target to its quota group.
var quotaGroups = map[string]string{
	TargetGetParameter:        QuotaSSMStandard,
	TargetGetParameters:       QuotaSSMStandard,
	TargetDescribeParameters:  QuotaDescribeParameters,
	TargetBatchGetSecretValue: QuotaBatchGetSecretValue,
	TargetGetSecretValue:      QuotaGetSecretValue,
	TargetListSecrets:         QuotaListSecrets,
}

// QuotaGroup returns the quota group of target ("" for a target the Server
// does not answer, or STS, which has no quota here).
func QuotaGroup(target string) string { return quotaGroups[target] }

// Quota is a token bucket: PerSecond requests a second on average, and up
// to Burst at once after a quiet spell. AWS publishes rates, not bursts.
type Quota struct {
	PerSecond float64
	// Burst is the bucket's size; 0 means PerSecond rounded up (at least
	// 1), one second's worth.
	Burst int
}

// PublishedQuotas returns the default quotas AWS publishes for the groups,
// per account and region:
//
//   - QuotaSSMStandard: 40 per second, "Default throughput: 40 (Shared by
//     the following API actions: GetParameter, GetParameters,
//     GetParametersByPath)" (AWS General Reference, "AWS Systems Manager
//     endpoints and quotas", https://docs.aws.amazon.com/general/latest/gr/ssm.html,
//     as quoted by https://dev.classmethod.jp/ and the re:Post article
//     https://repost.aws/knowledge-center/ssm-parameter-store-rate-exceeded;
//     the newer API reference notes say PutParameter shares it too);
//   - QuotaBatchGetSecretValue: 100 per second, and QuotaGetSecretValue:
//     10,000 per second combined with DescribeSecret ("AWS Secrets Manager
//     quotas",
//     https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html);
//   - QuotaListSecrets: 100 per second (What's New, 2022-11-11, "AWS
//     Secrets Manager increases API requests per second limits",
//     https://aws.amazon.com/about-aws/whats-new/2022/11/aws-secrets-manager-increases-api-requests-per-second-limits/;
//     the quotas page's row for it could not be read here).
//
// DescribeParameters has no published quota (minamijoyo/myaws#31: "the
// rate limit of DescribeParameters API is undocumented";
// segmentio/chamber#34), so it is not in the map: tests that need one set
// it with WithQuota and say what they assumed. Bursts are not published
// either; they are left 0 (one second's worth).
func PublishedQuotas() map[string]Quota {
	return map[string]Quota{
		QuotaSSMStandard:         {PerSecond: 40},
		QuotaBatchGetSecretValue: {PerSecond: 100},
		QuotaGetSecretValue:      {PerSecond: 10000},
		QuotaListSecrets:         {PerSecond: 100},
	}
}

// WithQuota makes the Server throttle the calls of group beyond q, as the
// account-wide quota does: a call that finds the group's bucket empty is
// answered with ThrottlingException (HTTP 400, "Rate exceeded"). All
// clients of the Server share the bucket, as all clients of an account
// share AWS's. A q with PerSecond <= 0 removes the quota.
func WithQuota(group string, q Quota) Option {
	return func(s *Server) { s.setQuota(group, q, s.now()) }
}

// SetQuota is WithQuota on a running Server; the bucket starts full.
func (s *Server) SetQuota(group string, q Quota) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setQuota(group, q, s.now())
}

func (s *Server) setQuota(group string, q Quota, now time.Time) {
	if q.PerSecond <= 0 {
		delete(s.quotas, group)
		return
	}
	burst := float64(q.Burst)
	if q.Burst <= 0 {
		burst = max(1, math.Ceil(q.PerSecond))
	}
	s.quotas[group] = &bucket{rate: q.PerSecond, size: burst, tokens: burst, last: now}
}

// bucket is a token bucket; it is only used under Server.mu.
type bucket struct {
	rate, size, tokens float64
	last               time.Time
}

// take refills the bucket for the time since its last use and takes one
// token if there is one.
func (b *bucket) take(now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.size, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// overQuota returns ThrottlingException if target's quota group has a
// quota and its bucket is empty at now. Callers hold s.mu.
func (s *Server) overQuota(target string, now time.Time) (*apiError, time.Duration) {
	b := s.quotas[quotaGroups[target]]
	if b == nil || b.take(now) {
		return nil, 0
	}
	// AWS's quota throttling sends no Retry-After.
	return errThrottling(), 0
}

// Throttled returns how many calls were answered with ThrottlingException
// since New or the last Reset, by a quota or by Throttle and
// SetThrottling.
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// PeakRate returns the most calls of quota group that were answered
// without throttling within any one second, and the most throttled ones
// likewise: what a benchmark compares with the group's quota. The window
// slides over the times the quota was applied to the calls, the clock
// its bucket goes by, so no second holds more accepted calls than the
// bucket allows; a call answered before the quota was applied (an
// unauthenticated one) counts at its arrival time. (Arrival times would
// not do: a call that arrived first may reach the bucket after one that
// arrived later, and by a varying delay.)
func (s *Server) PeakRate(group string) (accepted, throttled int) {
	s.mu.Lock()
	var ok, thr []time.Time
	for _, c := range s.calls {
		if quotaGroups[c.Target] != group {
			continue
		}
		at := c.At
		if !c.quotaAt.IsZero() {
			at = c.quotaAt
		}
		if c.Throttled {
			thr = append(thr, at)
		} else {
			ok = append(ok, at)
		}
	}
	s.mu.Unlock()
	return peakPerSecond(ok), peakPerSecond(thr)
}

// peakPerSecond returns the most times within any window of one second.
func peakPerSecond(times []time.Time) int {
	slices.SortFunc(times, time.Time.Compare)
	peak, lo := 0, 0
	for hi, t := range times {
		for t.Sub(times[lo]) >= time.Second {
			lo++
		}
		peak = max(peak, hi-lo+1)
	}
	return peak
}
