// The cluster rows: the Funcatron path again, on three clustered RabbitMQ nodes with quorum
// queues (spec/protocol.md §9), next to the single node's rows. All on the same machine, so
// they measure what replication costs (every message written on three nodes, Raft rounds
// before each confirm), not what more machines would give.

package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/stack"
)

// pathCluster is the row name of the Funcatron path on the cluster.
const pathCluster = "nginx → RabbitMQ, 3-node cluster, quorum queues → runner → function (Funcatron)"

// clusterNodes is how many RabbitMQ nodes the cluster rows run on.
const clusterNodes = 3

// clusterRows stops the single-node stack, starts one on a cluster of clusterNodes with
// --queue-type quorum (the frontend and the runner each on a node of their shuffled
// lists), deploys hello-go and measures the Funcatron path for every body.
func (b *bench) clusterRows() error {
	b.stack.Close()
	b.stack = nil
	logf("starting the stack on a %d-node RabbitMQ cluster with quorum queues", clusterNodes)
	var err error
	b.stack, err = stack.Start(stack.Options{Dir: sub(b.cfg.Dir, "cluster"), BinDir: b.cfg.Bin, Runners: 1,
		NginxWorkers: b.cfg.Workers, BrokerNodes: clusterNodes, TronArgs: []string{"--queue-type", "quorum"}})
	if err != nil {
		return fmt.Errorf("cluster stack: %w", err)
	}
	if _, err := measureColdStart(b.stack, filepath.Join(b.cfg.Samples, "hello-go.zip")); err != nil {
		return fmt.Errorf("cluster stack: %w", err)
	}
	if err := waitAllWorkers(b.stack.FrontURL()); err != nil {
		return err
	}
	b.roles.runner, b.roles.tron = findDescendant(selfPID, "runner"), findDescendant(selfPID, "tron")
	for _, p := range descendants(processes(), selfPID) {
		if p.comm == "nginx" && strings.Contains(p.cmdline, "master") && strings.Contains(p.cmdline, b.stack.Nginx.Prefix) {
			b.roles.frontMaster = p.pid
		}
	}
	for _, body := range bodies {
		if err := b.row(pathCluster, body.name, body.size); err != nil {
			return err
		}
	}
	b.res.fillRatios()
	b.res.Notes = append(b.res.Notes, fmt.Sprintf("the cluster rows (%d RabbitMQ nodes on this one machine, quorum queues) "+
		"measure the cost of replication, not scale; measured %s", clusterNodes, time.Now().UTC().Format(time.DateOnly)))
	return nil
}
