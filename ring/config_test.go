package ring

import (
	"errors"
	"math"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	tests := []struct {
		name  string
		edit  func(*Config)
		valid bool
	}{
		{"default", func(*Config) {}, true},
		{"zero virtual nodes and load mean defaults", func(c *Config) { c.VirtualNodes, c.Load = 0, 0 }, true},
		{"one partition", func(c *Config) { c.Partitions = 1 }, true},
		{"max partitions", func(c *Config) { c.Partitions = MaxPartitions }, true},
		{"backups", func(c *Config) { c.Backups = 3 }, true},
		{"two virtual nodes", func(c *Config) { c.VirtualNodes = 2 }, true},
		{"load just above one", func(c *Config) { c.Load = 1.0001 }, true},
		{"zero partitions", func(c *Config) { c.Partitions = 0 }, false},
		{"negative partitions", func(c *Config) { c.Partitions = -1 }, false},
		{"too many partitions", func(c *Config) { c.Partitions = MaxPartitions + 1 }, false},
		{"negative backups", func(c *Config) { c.Backups = -1 }, false},
		{"one virtual node", func(c *Config) { c.VirtualNodes = 1 }, false},
		{"negative virtual nodes", func(c *Config) { c.VirtualNodes = -5 }, false},
		{"too many virtual nodes", func(c *Config) { c.VirtualNodes = MaxVirtualNodes + 1 }, false},
		{"load one", func(c *Config) { c.Load = 1 }, false},
		{"load below one", func(c *Config) { c.Load = 0.5 }, false},
		{"negative load", func(c *Config) { c.Load = -1.25 }, false},
		{"load too high", func(c *Config) { c.Load = MaxLoad + 1 }, false},
		{"load NaN", func(c *Config) { c.Load = math.NaN() }, false},
		{"load Inf", func(c *Config) { c.Load = math.Inf(1) }, false},
		{"placement v1", func(c *Config) { c.Placement = PlacementV1 }, true},
		{"placement v2", func(c *Config) { c.Placement = PlacementV2 }, true},
		{"zero placement means default", func(c *Config) { c.Placement = 0 }, true},
		{"placement v3", func(c *Config) { c.Placement = PlacementV3 }, true},
		{"placement v4", func(c *Config) { c.Placement = 4 }, false},
		{"negative placement", func(c *Config) { c.Placement = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.valid && err != nil {
				t.Fatalf("Validate(%+v) = %v, want nil", c, err)
			}
			if !tt.valid && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate(%+v) = %v, want ErrInvalidConfig", c, err)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Partitions != 271 || c.Backups != 0 || c.VirtualNodes != 100 || c.Load != 1.25 || c.Placement != PlacementV2 {
		t.Fatalf("DefaultConfig() = %+v", c)
	}
	if (Config{Partitions: 7}).withDefaults() != (Config{Partitions: 7, VirtualNodes: 100, Load: 1.25, Placement: 2}) {
		t.Fatalf("withDefaults did not fill zero fields")
	}
}

func TestCapacity(t *testing.T) {
	tests := []struct {
		total, n int
		load     float64
		want     int
	}{
		{271, 1, 1.25, 338},
		{271, 3, 1.25, 112}, // consistent alone would allow ceil(90*1.25) = 113
		{271, 10, 1.25, 33}, // consistent alone: 34
		{271, 16, 1.25, 21}, // consistent alone: 20
		{280, 14, 1.25, 25}, // exact product, no float rounding down
		{271, 200, 1.25, 2}, // ceil(P/N) wins over floor(Load*P/N) = 1
		{271, 271, 1.25, 1},
		{0, 3, 1.25, 0},
		{5, 0, 1.25, 0},
	}
	for _, tt := range tests {
		if got := capacity(tt.total, tt.n, tt.load); got != tt.want {
			t.Errorf("capacity(%d, %d, %v) = %d, want %d", tt.total, tt.n, tt.load, got, tt.want)
		}
	}
}
