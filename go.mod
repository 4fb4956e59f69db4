module omsecrets

go 1.26.0

require (
	github.com/caarlos0/env/v11 v11.4.2
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sync v0.25.0
)

require golang.org/x/text v0.14.0 // indirect
