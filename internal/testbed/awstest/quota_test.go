package awstest_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
)

func TestQuotaGroups(t *testing.T) {
	t.Parallel()
	for target, group := range map[string]string{
		awstest.TargetGetParameter:        awstest.QuotaSSMStandard,
		awstest.TargetGetParameters:       awstest.QuotaSSMStandard,
		awstest.TargetDescribeParameters:  awstest.QuotaDescribeParameters,
		awstest.TargetBatchGetSecretValue: awstest.QuotaBatchGetSecretValue,
		awstest.TargetGetSecretValue:      awstest.QuotaGetSecretValue,
		awstest.TargetListSecrets:         awstest.QuotaListSecrets,
		"AmazonSSM.PutParameter":          "",
	} {
		assert.Equal(t, group, awstest.QuotaGroup(target), target)
	}
	q := awstest.PublishedQuotas()
	assert.InDelta(t, 40, q[awstest.QuotaSSMStandard].PerSecond, 0)
	assert.InDelta(t, 100, q[awstest.QuotaBatchGetSecretValue].PerSecond, 0)
	assert.InDelta(t, 100, q[awstest.QuotaListSecrets].PerSecond, 0)
	assert.NotContains(t, q, awstest.QuotaDescribeParameters, "not published")
}

func TestQuotaThrottles(t *testing.T) {
	t.Parallel()
	// A rate so low that no refill happens during the test's calls.
	s := awstest.New(t, awstest.WithQuota(awstest.QuotaSSMStandard, awstest.Quota{PerSecond: 0.01, Burst: 3}))
	s.PutParameter("q", "quota-value", false)
	s.PutSecret("q", "quota-secret")
	ps, sm := ssmClient(s), smClient(s)

	// GetParameter and GetParameters share the bucket.
	_, err := ps.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("q")})
	require.NoError(t, err)
	_, err = ps.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"q"}})
	require.NoError(t, err)
	_, err = ps.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("q")})
	require.NoError(t, err)
	_, err = ps.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"q"}})
	code, status := apiError(t, err)
	assert.Equal(t, "ThrottlingException", code)
	assert.Equal(t, http.StatusBadRequest, status)
	var re *smithyhttp.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Empty(t, re.Response.Header.Get("Retry-After"))
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Rate exceeded", ae.ErrorMessage())

	// Other groups are not affected; DescribeParameters has its own.
	_, err = ps.DescribeParameters(t.Context(), &ssm.DescribeParametersInput{})
	require.NoError(t, err)
	_, err = sm.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"q"}})
	require.NoError(t, err)

	assert.Equal(t, 1, s.Throttled())
	log := s.CallLog()
	require.Len(t, log, 6)
	for i, c := range log {
		assert.Equal(t, i == 3, c.Throttled, "call %d (%s)", i, c.Target)
	}
	accepted, throttled := s.PeakRate(awstest.QuotaSSMStandard)
	assert.Equal(t, 3, accepted)
	assert.Equal(t, 1, throttled)

	// Injected throttling is counted and marked too.
	s.Throttle(1)
	_, err = sm.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	code, _ = apiError(t, err)
	assert.Equal(t, "ThrottlingException", code)
	assert.Equal(t, 2, s.Throttled())
	assert.True(t, s.CallLog()[6].Throttled)

	s.Reset()
	assert.Zero(t, s.Throttled())
	// Removing the quota lets calls through.
	s.SetQuota(awstest.QuotaSSMStandard, awstest.Quota{})
	_, err = ps.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("q")})
	require.NoError(t, err)
}

func TestQuotaRefills(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	// The quota's own clock, so that how long a call takes here does not
	// count as refill time.
	var mu sync.Mutex
	now := time.Now()
	s.SetQuotaClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	})
	wait := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	s.SetQuota(awstest.QuotaListSecrets, awstest.Quota{PerSecond: 4, Burst: 1})
	sm := smClient(s)
	list := func() error {
		_, err := sm.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
		return err
	}
	require.NoError(t, list())
	require.Error(t, list(), "the bucket holds one call")
	// A quarter of a second refills one token (4 per second); the bucket
	// holds at most Burst however long it waits.
	wait(200 * time.Millisecond)
	require.Error(t, list(), "four fifths of a token")
	wait(50 * time.Millisecond)
	require.NoError(t, list())
	require.Error(t, list())
	wait(time.Second)
	require.NoError(t, list())
	require.Error(t, list(), "Burst caps the refill")
	assert.Equal(t, 4, s.Throttled())
}

// TestQuotaUnderLoad hammers one quota group from 50 clients at once, as
// 50 sidecars of one account would, and checks the rate the Server let
// through; run with -race.
func TestQuotaUnderLoad(t *testing.T) {
	t.Parallel()
	const rate, burst = 40, 40
	s := awstest.New(t, awstest.WithQuota(awstest.QuotaSSMStandard, awstest.Quota{PerSecond: rate, Burst: burst}))
	s.PutParameter("/load/p", "load-value", true)
	var ok, throttled atomic.Int64
	start := time.Now()
	deadline := start.Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	for range 50 {
		// One client each, as separate processes would have.
		ps := ssmClient(s)
		wg.Go(func() {
			for time.Now().Before(deadline) {
				_, err := ps.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/load/p"}, WithDecryption: aws.Bool(true)})
				if err == nil {
					ok.Add(1)
					continue
				}
				var ae smithy.APIError
				if assert.ErrorAs(t, err, &ae) && assert.Equal(t, "ThrottlingException", ae.ErrorCode()) {
					throttled.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// Every call met the bucket, full at New, between start and now: the
	// burst and what refilled meanwhile at most. (Calls started before
	// the deadline can meet it after; the deadline alone is no bound.)
	elapsed := time.Since(start)
	assert.Positive(t, throttled.Load())
	assert.Equal(t, int(throttled.Load()), s.Throttled())
	assert.LessOrEqual(t, float64(ok.Load()), burst+rate*elapsed.Seconds(), "in %v", elapsed)
	accepted, peakThrottled := s.PeakRate(awstest.QuotaSSMStandard)
	assert.LessOrEqual(t, accepted, burst+rate, "no second saw more than the burst and one second's refill")
	assert.Positive(t, peakThrottled)
	assert.Equal(t, int(ok.Load()+throttled.Load()), s.Calls(awstest.TargetGetParameters))
}
