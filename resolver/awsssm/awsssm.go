package awsssm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awsbatch"
	"omsecrets/resolver/internal/awsconfig"
	"omsecrets/resolver/internal/awserr"
)

var _ resolver.BatchGetter = (*Provider)(nil)

// MaxBatch is the most names one GetParameters call takes (API reference:
// Names, "Maximum number of 10 items").
const MaxBatch = 10

// maxIDLen is the longest parameter name AWS accepts (PSParameterName).
const maxIDLen = 2048

// secretsManagerRefPrefix is the path under which Parameter Store returns
// Secrets Manager secrets.
const secretsManagerRefPrefix = "/aws/reference/secretsmanager/"

// batchAction is the IAM action of GetParameters.
const batchAction = "ssm:GetParameters"

// parametersAPI is the part of *ssm.Client the Provider uses.
type parametersAPI interface {
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	DescribeParameters(ctx context.Context, in *ssm.DescribeParametersInput, optFns ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error)
}

// Options configures a Provider.
type Options struct {
	// Endpoint, if set, is the service endpoint URL (the client's
	// BaseEndpoint), for example from AWS_ENDPOINT_URL_SSM or a
	// LocalStack URL. Empty means the SDK's own resolution.
	Endpoint string
	// Logger receives the one warning about falling back from
	// GetParameters; slog.Default if nil.
	Logger *slog.Logger
}

// Provider reads parameters from AWS Systems Manager Parameter Store. It
// is safe for concurrent use and holds no resources that need closing.
type Provider struct {
	api    parametersAPI
	logger *slog.Logger
	// batch reads in GetParameters calls, or with GetParameter once
	// GetParameters has been found denied as an action.
	batch *awsbatch.Reader
}

// New returns a Provider that calls Parameter Store with a client built
// from cfg (region, credentials, HTTP client) and opts. Whatever cfg says
// about retries, the client makes one attempt per call.
func New(cfg aws.Config, opts Options) *Provider {
	client := ssm.NewFromConfig(awsconfig.OneAttempt(cfg), func(o *ssm.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
	})
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return newProvider(client, logger)
}

func newProvider(api parametersAPI, logger *slog.Logger) *Provider {
	p := &Provider{api: api, logger: logger.With("component", "awsssm")}
	p.batch = &awsbatch.Reader{
		Max: MaxBatch, Check: checkID, Get: p.get, Batch: p.batchGet, Logger: p.logger, Action: batchAction,
		FallBackWarning: "GetParameters is denied; reading each parameter with GetParameter from now on (allow the action to batch reads)",
	}
	return p
}

// MaxBatch implements resolver.BatchGetter: MaxBatch, or 1 once
// GetParameters has been found denied and each name is read on its own.
func (p *Provider) MaxBatch() int { return p.batch.MaxBatch() }

// Get implements resolver.Getter with one GetParameter call (with
// decryption). Its errors name id; see the package documentation for their
// classes.
func (p *Provider) Get(ctx context.Context, id string) (resolver.Secret, error) {
	v, err := p.get(ctx, id)
	if err != nil {
		return resolver.Secret{}, fmt.Errorf("parameter %q: %w", id, err)
	}
	return v, nil
}

// get is Get with errors that do not name the id.
func (p *Provider) get(ctx context.Context, id string) (resolver.Secret, error) {
	if err := checkID(id); err != nil {
		return resolver.Secret{}, err
	}
	out, err := p.api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(id), WithDecryption: aws.Bool(true)})
	if err != nil {
		return resolver.Secret{}, awserr.Map("GetParameter", err, codes)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return resolver.Secret{}, fmt.Errorf("%w: GetParameter returned no value", resolver.ErrNotFound)
	}
	return versioned(resolver.NewSecret(*out.Parameter.Value), id, aws.ToString(out.Parameter.Name), out.Parameter.Version), nil
}

// GetBatch implements resolver.BatchGetter (awsbatch.Reader): the names
// in GetParameters calls of at most MaxBatch, or in one GetParameter call
// each once GetParameters has been found denied. Failures of single ids
// are *resolver.RefError values; an error of any other type failed the
// ids missing from the map. Duplicate ids are fetched once.
func (p *Provider) GetBatch(ctx context.Context, ids []string) (map[string]resolver.Secret, error) {
	return p.batch.GetBatch(ctx, ids)
}

// batchGet fetches at most MaxBatch distinct, valid ids with
// GetParameters into out and returns their failures.
func (p *Provider) batchGet(ctx context.Context, ids []string, out map[string]resolver.Secret) []error {
	resp, err := p.api.GetParameters(ctx, &ssm.GetParametersInput{Names: ids, WithDecryption: aws.Bool(true)})
	if err != nil {
		if isolatable(err) {
			errs := p.batch.GetEach(ctx, ids, out)
			if isAccessDenied(err) && readAlone(errs) {
				p.batch.FallBack()
			}
			return errs
		}
		// A failure of the whole call: it applies to every id missing
		// from out.
		return []error{awserr.Map("GetParameters", err, codes)}
	}
	var errs []error
	pending := slices.Clone(ids)
	for _, prm := range resp.Parameters {
		pending = slices.DeleteFunc(pending, func(id string) bool {
			if !matches(id, prm) {
				return false
			}
			if prm.Value == nil {
				errs = append(errs, awsbatch.RefError(id, fmt.Errorf("%w: GetParameters returned no value", resolver.ErrNotFound)))
			} else {
				out[id] = versioned(resolver.NewSecret(*prm.Value), id, aws.ToString(prm.Name), prm.Version)
			}
			return true
		})
	}
	for _, name := range resp.InvalidParameters {
		i := slices.Index(pending, name)
		if i < 0 {
			i = slices.IndexFunc(pending, func(id string) bool { return strings.TrimSpace(id) == strings.TrimSpace(name) })
		}
		if i < 0 {
			continue
		}
		errs = append(errs, awsbatch.RefError(pending[i], fmt.Errorf("%w: GetParameters: parameter, version or label does not exist (InvalidParameters)", resolver.ErrNotFound)))
		pending = slices.Delete(pending, i, i+1)
	}
	for _, id := range pending {
		errs = append(errs, awsbatch.RefError(id, fmt.Errorf("%w: not in the GetParameters response", resolver.ErrNotFound)))
	}
	return errs
}

// readAlone reports whether reading the ids of a batch one by one, with
// failures errs, reached every id (getEach did not stop early) and was
// refused none of them: a GetParameters denial is then the action's, not
// one name's.
func readAlone(errs []error) bool {
	for _, err := range errs {
		var re *resolver.RefError
		if !errors.As(err, &re) || errors.Is(err, resolver.ErrPermission) {
			return false
		}
	}
	return true
}

// matches reports whether prm, from a GetParameters answer, is the one id
// asked for. AWS returns the bare name in Name and a "name:3" or
// "name:label" request's selector in Selector (":3", ":label"), and
// removes spaces around names.
func matches(id string, prm types.Parameter) bool {
	id = strings.TrimSpace(id)
	sel := aws.ToString(prm.Selector)
	name := aws.ToString(prm.Name)
	if id == name+sel || prm.ARN != nil && id == *prm.ARN+sel {
		return true
	}
	// Defensive: should AWS name a Secrets Manager reference by the
	// secret rather than by the path asked for.
	if rest, ok := strings.CutPrefix(id, secretsManagerRefPrefix); ok && sel == "" && !strings.HasPrefix(name, secretsManagerRefPrefix) {
		return rest == name || rest == aws.ToString(prm.ARN)
	}
	return false
}

// checkID refuses names AWS would refuse for the whole call: empty, longer
// than 2048 bytes, or with a space inside.
func checkID(id string) error {
	name := strings.TrimSpace(id)
	switch {
	case name == "":
		return fmt.Errorf("%w: empty parameter name", resolver.ErrBadRef)
	case len(name) > maxIDLen:
		return fmt.Errorf("%w: parameter name longer than %d bytes", resolver.ErrBadRef, maxIDLen)
	case strings.ContainsFunc(name, unicode.IsSpace):
		return fmt.Errorf("%w: space in parameter name", resolver.ErrBadRef)
	}
	return nil
}
