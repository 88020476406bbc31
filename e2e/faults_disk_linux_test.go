package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

// fullDiskChildEnv marks the test process re-executed in its own mount
// namespace, where it may mount a tmpfs without touching the machine's.
const fullDiskChildEnv = "SWITCHBOARD_FULL_DISK_CHILD"

// sqliteFullDisk: the gateway's SQLite file lives on a small tmpfs that
// fills up under load. The gateway must stop answering 202 (503s), log
// one ERROR line and exit non-zero; once space is freed, a restart on the
// same file finds every message it answered 202 and finishes them.
//
// The tmpfs is mounted in a mount namespace of its own: the test binary
// re-executes itself with CLONE_NEWNS (Go makes the new namespace's mounts
// private), runs the scenario there and reports its result on stdout.
func sqliteFullDisk(t *testing.T, size faultSize) faultResult {
	if os.Getenv(fullDiskChildEnv) == "" {
		return fullDiskInNamespace(t, size)
	}
	dbDir := filepath.Join(t.TempDir(), "disk")
	require.NoError(t, os.Mkdir(dbDir, 0o700))
	if err := syscall.Mount("tmpfs", dbDir, "tmpfs", 0, "size=8m,mode=0700"); err != nil {
		fmt.Printf("FAULTSKIP cannot mount a tmpfs in a mount namespace here: %v\n", err)
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dbDir, syscall.MNT_DETACH) })

	cfg := fastConfig()
	cfg.DBDir = dbDir
	cfg.Lease = "2m"
	cfg.ReceiptTimeout = map[string]string{"whatsapp": "2s", "sms": "2s", "email": "2s"}
	g := startGateway(t, cfg)

	// Leave the database about 1 MiB: some hundreds of messages fill it.
	filler := filepath.Join(dbDir, "filler")
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dbDir, &st))
	free := int64(st.Bavail) * st.Bsize
	require.NoError(t, os.WriteFile(filler, make([]byte, max(free-1<<20, 0)), 0o600))

	ids, refused := postUntilDown(t, g, size.messages)
	select {
	case <-g.proc.done:
	case <-time.After(stopTimeout):
		t.Fatalf("the gateway did not exit within %s of its disk filling up (%d accepted, %d refused)", stopTimeout, len(ids), refused)
	}
	var exit *exec.ExitError
	require.True(t, errors.As(g.proc.err, &exit), "exit non-zero after a storage failure, got %v", g.proc.err)
	log := g.logSince(0)
	errorLines := regexp.MustCompile(`(?m)^.*level=ERROR.*$`).FindAllString(log, -1)
	require.Len(t, errorLines, 1, "one ERROR line")
	require.Contains(t, errorLines[0], "storage failed")
	require.NotEmpty(t, ids, "nothing accepted before the disk filled")
	require.Positive(t, refused, "sends refused with 503 once the disk was full")

	require.NoError(t, os.Remove(filler))
	took := g.restartAndRecover(t, 30*time.Second)
	r := account(waitAllFinalWithin(t, g, ids, 30*time.Second), ids)
	r.recover = took
	r.note = fmt.Sprintf("%d refused with 503, exit %d", refused, exit.ExitCode())
	fmt.Printf("FAULTRESULT accepted=%d delivered=%d lost=%d duplicates=%d recover_ns=%d refused=%d exit=%d\n",
		r.accepted, r.delivered, r.lost, r.duplicates, r.recover.Nanoseconds(), refused, exit.ExitCode())
	return r
}

// postUntilDown posts from 8 clients until the gateway stops answering
// (its process exited) or n posts were made. It returns the ids answered
// 202 and how many posts were answered 503 unavailable; any other answer
// fails the test.
func postUntilDown(t *testing.T, g *gateway, n int) (ids []string, refused int) {
	t.Helper()
	c := client.New(g.URL, sendKey)
	c.Retry.MaxAttempts = 1
	var (
		mu    sync.Mutex
		next  atomic.Int64
		nRef  atomic.Int64
		other []error
		wg    sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n || !g.running() {
					return
				}
				res, err := c.Send(t.Context(), otp(i), "")
				var ae *client.Error
				switch {
				case err == nil:
					mu.Lock()
					ids = append(ids, res.ID)
					mu.Unlock()
				case errors.As(err, &ae) && ae.StatusCode == 503 && ae.Code == "unavailable":
					nRef.Add(1)
				case errors.As(err, &ae):
					mu.Lock()
					other = append(other, err)
					mu.Unlock()
				default:
					// The connection failed: the gateway is shutting down.
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, other, "answers other than 202 and 503 unavailable")
	return ids, int(nRef.Load())
}

var faultResultLine = regexp.MustCompile(`FAULTRESULT accepted=(\d+) delivered=(\d+) lost=(\d+) duplicates=(\d+) recover_ns=(\d+) refused=(\d+) exit=(\d+)`)

// fullDiskInNamespace runs sqliteFullDisk in a child test process in a new
// mount namespace and returns the result it printed.
func fullDiskInNamespace(t *testing.T, size faultSize) faultResult {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestFaults$/^sqlite-full-disk$", "-test.v", "-test.count=1", "-test.timeout=5m")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_FAULTS_REPORT=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, fullDiskChildEnv+"=1", "SWITCHBOARD_E2E_BINARY="+binary,
		"SWITCHBOARD_FAULTS_ONLY=sqlite-full-disk", "SWITCHBOARD_FAULTS_MESSAGES="+strconv.Itoa(size.messages))
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
		t.Skipf("SKIPPED, not passed: this machine does not allow a mount namespace (%v), so the full-disk scenario cannot run", err)
	}
	if m := regexp.MustCompile(`FAULTSKIP (.*)`).FindSubmatch(out); m != nil {
		t.Skipf("SKIPPED, not passed: %s", m[1])
	}
	require.NoError(t, err, "full-disk scenario (in its own mount namespace):\n%s", out)
	m := faultResultLine.FindSubmatch(out)
	require.NotNil(t, m, "no FAULTRESULT line:\n%s", out)
	num := func(i int) int {
		v, err := strconv.Atoi(string(m[i]))
		require.NoError(t, err)
		return v
	}
	return faultResult{
		accepted: num(1), delivered: num(2), lost: num(3), duplicates: num(4),
		recover: time.Duration(num(5)),
		note:    fmt.Sprintf("%d refused with 503, exit %d", num(6), num(7)),
	}
}
