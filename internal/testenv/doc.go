// Package testenv is what only tests need: the testing.TB wrappers of internal/servers
// (StartRabbitMQ, StartRedis, StartNginx: started for one test, stopped in its cleanup; a
// server that cannot be started fails the test: nothing here skips), a TestMain sharing one
// broker (MainWithRabbitMQ), test logs (LogWriter, Logger), polling with a deadline (Poll,
// WaitFor), SyncBuffer, and talking to the broker as a peer would (AMQPChannel, Subscribe,
// VerifySigned).
package testenv
