package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

// serveGateway is this binary re-executed with -serve-gateway: it runs
// the gateway as `switchboard serve` does (config.Load, gateway.New, Run),
// at log level warn, and on SIGUSR1 runs a full GC, returns freed memory
// to the OS (debug.FreeOSMemory) and writes runtime.MemStats as JSON to
// memPath. The serve command has no such hook; the code under test is the
// same.
func serveGateway(addr, cfgPath, memPath string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	slog.SetDefault(log)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if prof := os.Getenv("SB_GWPERF_CPUPROFILE"); prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b, _ := json.Marshal(memStats{HeapAlloc: ms.HeapAlloc, HeapInuse: ms.HeapInuse, HeapSys: ms.HeapSys,
				HeapReleased: ms.HeapReleased, Sys: ms.Sys, StackInuse: ms.StackInuse, NumGoroutine: runtime.NumGoroutine()})
			_ = os.WriteFile(memPath+".tmp", b, 0o644)
			_ = os.Rename(memPath+".tmp", memPath)
		}
	}()
	return g.Run(ctx, ln)
}

type memStats struct {
	HeapAlloc    uint64 `json:"heap_alloc"`
	HeapInuse    uint64 `json:"heap_inuse"`
	HeapSys      uint64 `json:"heap_sys"`
	HeapReleased uint64 `json:"heap_released"`
	Sys          uint64 `json:"sys"`
	StackInuse   uint64 `json:"stack_inuse"`
	NumGoroutine int    `json:"goroutines"`
}

// child is a gateway child process.
type child struct {
	cmd     *exec.Cmd
	base    string // http://addr
	memPath string
	exited  chan struct{}
	waitErr error
	logPath string
}

func startGateway(ctx context.Context, dir, name, cfgYAML, cpuProfile string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfgPath := dir + "/" + name + ".yaml"
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &child{base: "http://" + addr, memPath: dir + "/" + name + ".mem.json", exited: make(chan struct{}), logPath: dir + "/" + name + ".log"}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(self, "-serve-gateway", addr, cfgPath, c.memPath)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if cpuProfile != "" {
		abs, err := filepath.Abs(cpuProfile)
		if err != nil {
			return nil, err
		}
		c.cmd.Env = append(os.Environ(), "SB_GWPERF_CPUPROFILE="+abs)
	}
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { c.waitErr = c.cmd.Wait(); logf.Close(); close(c.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := httpc.Get(c.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c, nil
			}
		}
		select {
		case <-c.exited:
			b, _ := os.ReadFile(c.logPath)
			return nil, fmt.Errorf("gateway exited (%v): %s", c.waitErr, tail(string(b)))
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("gateway not ready after 30s")
		}
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

func (c *child) stop() {
	pgid := -c.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-c.exited
	}
}

// status reads VmRSS and VmHWM (peak RSS) from /proc/<pid>/status, in KiB.
func (c *child) status() (rssKiB, hwmKiB int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rssKiB = n
		case "VmHWM":
			hwmKiB = n
		}
	}
	return rssKiB, hwmKiB, nil
}

// gc asks the child for a full GC + FreeOSMemory and returns its MemStats.
func (c *child) gc() (memStats, error) {
	var ms memStats
	_ = os.Remove(c.memPath)
	if err := c.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return ms, err
	}
	for range 200 {
		time.Sleep(50 * time.Millisecond)
		if b, err := os.ReadFile(c.memPath); err == nil {
			return ms, json.Unmarshal(b, &ms)
		}
	}
	return ms, fmt.Errorf("no memstats from the gateway after 10s")
}

func (c *child) errorLines() int {
	b, _ := os.ReadFile(c.logPath)
	return strings.Count(string(b), "level=ERROR")
}
