package integration

import "testing"

// TestE2E is the end-to-end suite of spec/testing.md "What the integration suite must show":
// the whole system from its binaries, every request through nginx. It builds the binaries
// and the sample bundles once, into its temp dir (removed when it ends).
//
// TestE2E/Shared starts one stack (2 runners, 2 nginx workers, the three samples deployed)
// for the functional and bad-input subtests nested in it; each TestE2E/Fault subtest brings
// its own stack, since it kills or restarts parts of it; so does TestE2E/Bounds, whose
// consumers are bounded below the broker so that oversize messages reach them. Nothing runs in parallel: the fault
// tests count answers and latencies under load, on a 2-core machine.
//
// One part alone: go test ./integration -run 'TestE2E/Fault/BrokerRestart'.
func TestE2E(t *testing.T) {
	env := e2eBuild(t, t.TempDir())

	t.Run("Shared", func(t *testing.T) {
		s := e2eStart(t, env, e2eStackOptions{runners: 2, workers: 2, tronArgs: []string{
			"--max-unpacked-bytes", "16777216", // 16 MiB: BadInput/Bundles goes over it
			"--max-bundle-bytes", "33554432", // 32 MiB: BadInput/OversizeBodies goes over it
		}})
		shas := map[string]string{}
		for _, smp := range e2eSamples {
			shas[smp.name] = s.deploy(t, env.sample(smp.name), e2eProps)
		}
		t.Run("Samples", func(t *testing.T) { e2eTestSamples(t, s, shas) })
		t.Run("Secrets", func(t *testing.T) { e2eTestSecrets(t, s) })
		t.Run("HostsAndBasePaths", func(t *testing.T) { e2eTestHostsAndBasePaths(t, s, env) })
		t.Run("LongestBasePath", func(t *testing.T) { e2eTestLongestBasePath(t, s, env, shas) })
		t.Run("DisableReenable", func(t *testing.T) { e2eTestDisableReenable(t, s, env) })
		t.Run("NewVersionSwap", func(t *testing.T) { e2eTestNewVersionSwap(t, s, env) })
		t.Run("TwoRunnersShareARoute", func(t *testing.T) { e2eTestTwoRunners(t, s) })
		t.Run("TwoNginxWorkers", func(t *testing.T) { e2eTestTwoWorkers(t, s) })
		t.Run("Batches", func(t *testing.T) { e2eTestBatches(t, s) })
		t.Run("MixedFramings", func(t *testing.T) { e2eTestMixedFramings(t, s, shas["hello-go"]) })
		t.Run("BundleCrashAndHang", func(t *testing.T) { e2eTestBundleCrashHang(t, s, env) })
		t.Run("ConfigAndStatsd", func(t *testing.T) { e2eTestConfigAndStatsd(t, s) })
		t.Run("LiveLogs", func(t *testing.T) { e2eTestLiveLogs(t, s, env) })
		t.Run("FailedEnable", func(t *testing.T) { e2eTestFailedEnable(t, s, env) })
		t.Run("BadInput/Bus", func(t *testing.T) { e2eTestBadBusMessages(t, s) })
		t.Run("BadInput/Bundles", func(t *testing.T) { e2eTestInvalidBundles(t, s, env) })
		t.Run("BadInput/Unauthenticated", func(t *testing.T) { e2eTestUnauthenticated(t, s) })
		t.Run("BadInput/AdminRequests", func(t *testing.T) { e2eTestBadAdminRequests(t, s, env, shas) })
		t.Run("BadInput/OversizeBodies", func(t *testing.T) { e2eTestOversize(t, s) })
		t.Run("BadInput/HostileBundle", func(t *testing.T) { e2eTestHostileBundle(t, s) })
	})
	t.Run("Gilmour", func(t *testing.T) { e2eTestGilmour(t, env) })
	t.Run("Zbus", func(t *testing.T) { e2eTestZbus(t, env) })
	t.Run("Bounds", func(t *testing.T) { e2eTestBounds(t, env) })
	t.Run("Fault/RunnerKill", func(t *testing.T) { e2eTestRunnerKill(t, env) })
	t.Run("Fault/RunnerKillMidBatch", func(t *testing.T) { e2eTestRunnerKillMidBatch(t, env) })
	t.Run("Fault/NoRunner", func(t *testing.T) { e2eTestNoRunner(t, env) })
	t.Run("Fault/BrokerRestart", func(t *testing.T) { e2eTestBrokerRestart(t, env) })
	t.Run("Fault/TronKill", func(t *testing.T) { e2eTestTronKill(t, env) })
	t.Run("Fault/ClusterNodeKill", func(t *testing.T) { e2eTestClusterNodeKill(t, env) })
}

// e2eProps are the props every sample is enabled with on the shared stack.
var e2eProps = map[string]any{"greeting": "Howdy"}

// e2eSamples are the sample bundles and their base paths.
var e2eSamples = []struct{ name, base string }{
	{"hello-go", "/hello"}, {"hello-py", "/py"}, {"hello-sh", "/sh"},
}
