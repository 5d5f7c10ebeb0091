package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Machine describes where figures were measured.
type Machine struct {
	CPUs     int    // logical CPUs (nproc)
	Model    string // "model name" of /proc/cpuinfo
	MemTotal string // "MemTotal" of /proc/meminfo, e.g. "24576000 kB"
	Kernel   string // /proc/sys/kernel/osrelease
	Go       string // Go version the drivers were built with
	Load     string // /proc/loadavg when the run started
}

// ReadMachine reads the machine description from /proc. Fields it cannot
// read are left empty; CPUs falls back to runtime.NumCPU.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.Model, m.CPUs = parseCPUInfo(b, m.CPUs)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = procField(b, "MemTotal")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}

// String renders m on one line, the way the report's header shows it.
func (m Machine) String() string {
	s := fmt.Sprintf("%d CPUs, %s", m.CPUs, orUnknown(m.Model))
	if m.MemTotal != "" {
		s += ", memory " + m.MemTotal
	}
	if m.Kernel != "" {
		s += ", Linux " + m.Kernel
	}
	return s + ", " + m.Go
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown CPU model"
	}
	return s
}

// parseCPUInfo returns the first "model name" and the number of
// "processor" entries (fallback when there are none).
func parseCPUInfo(b []byte, fallback int) (model string, cpus int) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "processor":
			cpus++
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		}
	}
	if cpus == 0 {
		cpus = fallback
	}
	return model, cpus
}

// procField returns the value of "key:" in a /proc file of "key: value"
// lines, trimmed, or "".
func procField(b []byte, key string) string {
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}
