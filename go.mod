module github.com/funcatron/funcatron

go 1.26.8

require github.com/rabbitmq/amqp091-go v1.16.0

require (
	github.com/google/uuid v1.6.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
	olympos.io/encoding/edn v0.0.0-20201019073823-d3554ca0b0a3 // indirect
)
