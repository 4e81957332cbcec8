// The cluster rows: the Funcatron path again, on three clustered RabbitMQ nodes with quorum
// queues (spec/protocol.md §9), next to the single node's rows. All on the same machine, so
// they measure what replication costs (every message written on three nodes, Raft rounds
// before each confirm), not what more machines would give.

package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/funcatron/funcatron/internal/stack"
)

// shortCluster names the cluster's path in the CPU table and the JSON.
const shortCluster = "cluster"

// clusterNodes is how many RabbitMQ nodes the cluster rows run on.
const clusterNodes = 3

func init() { moreStacks = append(moreStacks, startClusterStack) }

// startClusterStack starts a second stack on a cluster of clusterNodes with --queue-type
// quorum (the frontend and the runner each on a node of their shuffled lists), deploys
// hello-go on it and adds its frontend to the row loop.
func startClusterStack(b *bench) (func(), error) {
	logf("starting a second stack on a %d-node RabbitMQ cluster with quorum queues", clusterNodes)
	s, err := stack.Start(stack.Options{Dir: sub(b.cfg.Dir, "cluster"), BinDir: b.cfg.Bin, Runners: 1,
		NginxWorkers: b.cfg.Workers, BrokerNodes: clusterNodes, TronArgs: []string{"--queue-type", "quorum"}})
	if err != nil {
		return nil, fmt.Errorf("cluster stack: %w", err)
	}
	if _, err := measureColdStart(s, filepath.Join(b.cfg.Samples, "hello-go.zip")); err != nil {
		return s.Close, fmt.Errorf("cluster stack: %w", err)
	}
	if err := waitAllWorkers(s.FrontURL()); err != nil {
		return s.Close, err
	}
	for _, r := range s.Runners {
		b.roles.runners[r.PID()] = true
	}
	b.res.Notes = append(b.res.Notes, fmt.Sprintf("the cluster rows (%d RabbitMQ nodes on this one machine, quorum queues) "+
		"measure the cost of replication, not scale; measured %s", clusterNodes, time.Now().UTC().Format(time.DateOnly)))
	return s.Close, b.addFrontend(s.Nginx, &path{
		Name:  fmt.Sprintf("Funcatron on a %d-node cluster, quorum queues (records)", clusterNodes),
		Short: shortCluster, Kind: kindFuncatron, brokers: s.Cluster.Nodes})
}
