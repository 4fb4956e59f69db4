package awssm

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awsbatch"
	"omsecrets/resolver/internal/awsconfig"
	"omsecrets/resolver/internal/awserr"
)

var _ resolver.BatchGetter = (*Provider)(nil)

// MaxBatch is the most ids one BatchGetSecretValue call takes (API
// reference: SecretIdList, "Maximum number of 20 items").
const MaxBatch = 20

// maxIDLen is the longest SecretId AWS accepts.
const maxIDLen = 2048

// maxPages bounds the NextToken pages one BatchGetSecretValue call is
// followed for. AWS does not page a SecretIdList (MaxResults needs
// Filters), so this only stops a misbehaving endpoint.
const maxPages = MaxBatch

// batchAction is the IAM action of BatchGetSecretValue.
const batchAction = "secretsmanager:BatchGetSecretValue"

// secretsAPI is the part of *secretsmanager.Client the Provider uses.
type secretsAPI interface {
	BatchGetSecretValue(ctx context.Context, in *secretsmanager.BatchGetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// Options configures a Provider.
type Options struct {
	// Endpoint, if set, is the service endpoint URL (the client's
	// BaseEndpoint), for example from AWS_ENDPOINT_URL_SECRETS_MANAGER or
	// a LocalStack URL. Empty means the SDK's own resolution.
	Endpoint string
	// Logger receives the one warning about falling back from
	// BatchGetSecretValue; slog.Default if nil.
	Logger *slog.Logger
}

// Provider reads secrets from AWS Secrets Manager. It is safe for
// concurrent use and holds no resources that need closing.
type Provider struct {
	api    secretsAPI
	logger *slog.Logger
	// batch reads in BatchGetSecretValue calls, or with GetSecretValue
	// once BatchGetSecretValue has been denied.
	batch *awsbatch.Reader
}

// New returns a Provider that calls Secrets Manager with a client built
// from cfg (region, credentials, HTTP client) and opts. Whatever cfg says
// about retries, the client makes one attempt per call.
func New(cfg aws.Config, opts Options) *Provider {
	client := secretsmanager.NewFromConfig(awsconfig.OneAttempt(cfg), func(o *secretsmanager.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
	})
	return newProvider(client, opts.Logger)
}

func newProvider(api secretsAPI, logger *slog.Logger) *Provider {
	if logger == nil {
		logger = slog.Default()
	}
	p := &Provider{api: api, logger: logger.With("component", "awssm")}
	p.batch = &awsbatch.Reader{
		Max: MaxBatch, Check: checkID, Get: p.get, Batch: p.batchGet, Logger: p.logger, Action: batchAction,
		FallBackWarning: "BatchGetSecretValue is denied or not offered by the endpoint; reading each secret with GetSecretValue from now on (allow the action to batch reads)",
	}
	return p
}

// MaxBatch implements resolver.BatchGetter: MaxBatch, or 1 once
// BatchGetSecretValue has been denied and each id is read on its own.
func (p *Provider) MaxBatch() int { return p.batch.MaxBatch() }

// Get implements resolver.Getter with one GetSecretValue call. Its errors
// name id; see the package documentation for their classes.
func (p *Provider) Get(ctx context.Context, id string) (resolver.Secret, error) {
	v, err := p.get(ctx, id)
	if err != nil {
		return resolver.Secret{}, fmt.Errorf("secret %q: %w", id, err)
	}
	return v, nil
}

// get is Get with errors that do not name the id.
func (p *Provider) get(ctx context.Context, id string) (resolver.Secret, error) {
	if err := checkID(id); err != nil {
		return resolver.Secret{}, err
	}
	out, err := p.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return resolver.Secret{}, awserr.Map("GetSecretValue", err, codes)
	}
	v, err := secretValue(out.SecretString, out.SecretBinary)
	if err != nil {
		return resolver.Secret{}, err
	}
	return versioned(v, aws.ToString(out.Name), aws.ToString(out.VersionId)), nil
}

// GetBatch implements resolver.BatchGetter (awsbatch.Reader): the ids in
// BatchGetSecretValue calls of at most MaxBatch, or in one GetSecretValue
// call each once BatchGetSecretValue has been denied. Failures of single
// ids are *resolver.RefError values; an error of any other type failed the
// ids missing from the map. Duplicate ids are fetched once.
func (p *Provider) GetBatch(ctx context.Context, ids []string) (map[string]resolver.Secret, error) {
	return p.batch.GetBatch(ctx, ids)
}

// batchGet fetches at most MaxBatch distinct, valid ids with
// BatchGetSecretValue into out and returns their failures.
func (p *Provider) batchGet(ctx context.Context, ids []string, out map[string]resolver.Secret) []error {
	var errs []error
	pending := slices.Clone(ids)
	in := &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids}
	for range maxPages {
		resp, err := p.api.BatchGetSecretValue(ctx, in)
		if err != nil {
			if batchUnavailable(err) {
				p.batch.FallBack()
				return append(errs, p.batch.GetEach(ctx, pending, out)...)
			}
			// A failure of the whole call: it applies to every id
			// missing from out.
			return append(errs, awserr.Map("BatchGetSecretValue", err, codes))
		}
		for _, v := range resp.SecretValues {
			name, arn := aws.ToString(v.Name), aws.ToString(v.ARN)
			pending = slices.DeleteFunc(pending, func(id string) bool {
				if !matches(id, name, arn) {
					return false
				}
				if s, err := secretValue(v.SecretString, v.SecretBinary); err != nil {
					errs = append(errs, awsbatch.RefError(id, err))
				} else {
					out[id] = versioned(s, name, aws.ToString(v.VersionId))
				}
				return true
			})
		}
		for _, e := range resp.Errors {
			sid := aws.ToString(e.SecretId)
			i := slices.Index(pending, sid)
			if i < 0 {
				// The entry may name the secret by its ARN where the
				// request had a partial ARN.
				i = slices.IndexFunc(pending, func(id string) bool { return matches(id, sid, sid) })
			}
			if i < 0 {
				continue
			}
			err := awserr.Classify("BatchGetSecretValue", aws.ToString(e.ErrorCode), aws.ToString(e.Message), 0, 0, codes)
			errs = append(errs, awsbatch.RefError(pending[i], err))
			pending = slices.Delete(pending, i, i+1)
		}
		if len(pending) == 0 || aws.ToString(resp.NextToken) == "" {
			break
		}
		in.NextToken = resp.NextToken
	}
	for _, id := range pending {
		errs = append(errs, awsbatch.RefError(id, fmt.Errorf("%w: not in the BatchGetSecretValue response", resolver.ErrNotFound)))
	}
	return errs
}

// matches reports whether the secret with name and arn is the one id asks
// for: id is its name, its full ARN, or its partial ARN (the full ARN
// without the final "-" and six characters).
func matches(id, name, arn string) bool {
	if id == name || id == arn {
		return true
	}
	const suffix = len("-xxxxxx")
	return strings.HasPrefix(id, "arn:") && len(arn) == len(id)+suffix &&
		strings.HasPrefix(arn, id) && arn[len(id)] == '-'
}

// checkID refuses ids AWS would refuse: empty or longer than 2048 bytes.
func checkID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty secret id", resolver.ErrBadRef)
	case len(id) > maxIDLen:
		return fmt.Errorf("%w: secret id longer than %d bytes", resolver.ErrBadRef, maxIDLen)
	}
	return nil
}

// secretValue returns the SecretString, or an error for a secret that has
// none. The bytes of a binary secret never reach the error.
func secretValue(str *string, binary []byte) (resolver.Secret, error) {
	switch {
	case str != nil:
		return resolver.NewSecret(*str), nil
	case binary != nil:
		return resolver.Secret{}, fmt.Errorf("%w: binary secret is not supported; store the value as SecretString", resolver.ErrBadRef)
	default:
		return resolver.Secret{}, fmt.Errorf("%w: secret has no SecretString", resolver.ErrBadRef)
	}
}
