// Package dockertest runs the images of docker/ the way a user does: docker-compose brings
// up docker/docker-compose.yml (RabbitMQ, Redis, the Tron, two runners, a frontend) under a
// project name of its own, every long-running container's HEALTHCHECK must pass, the CLI on
// the host deploys a sample bundle, requests go through the frontend's port on 127.0.0.1, one
// runner container is killed and the broker container restarted under load (every answer
// counted), every container stops with status 0 within Docker's default 10 s, and everything
// the test made (containers, network, volumes) is removed again. The images themselves come from `make images`, an
// install step that may reach Debian's mirror; at run time nothing outside the test's own
// containers and 127.0.0.1 is reached. docker/README.md has the facts it relies on.
package dockertest
