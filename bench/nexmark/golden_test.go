package nexmark

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// goldenConfigs are the configurations the Java oracle in testdata/README.md was run with; the
// names match its "config" argument.
var goldenConfigs = map[string]GeneratorConfig{
	"default": DefaultConfig(),
	"variant": {
		BaseTime:            1_000_000_000_000,
		FirstEventID:        12345,
		FirstEventNumber:    77,
		NumEventGenerators:  3,
		RateShape:           RateShapeSine,
		FirstEventRate:      10_000,
		NextEventRate:       25_000,
		RatePeriodSec:       20,
		OutOfOrderGroupSize: 7,
		HotAuctionRatio:     3,
		HotSellersRatio:     5,
		HotBiddersRatio:     6,
		NumInFlightAuctions: 40,
		NumActivePeople:     300,
		AvgPersonByteSize:   100,
		AvgAuctionByteSize:  400,
		AvgBidByteSize:      80,
	},
	"square": {
		RateShape:      RateShapeSquare,
		FirstEventRate: 600,
		NextEventRate:  900,
		RateUnit:       PerMinute,
		RatePeriodSec:  30,
	},
}

// TestGoldenEvents compares generated events with those of Beam's Java generator, recorded in
// testdata/beam-<config>-<skip>-<count>.jsonl: decoded field by field, and byte for byte as JSON.
func TestGoldenEvents(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "beam-*-*-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d golden files in testdata, want at least 4", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			parts := strings.Split(strings.TrimSuffix(filepath.Base(file), ".jsonl"), "-")
			cfg, ok := goldenConfigs[parts[1]]
			if !ok || len(parts) != 4 {
				t.Fatalf("unknown golden file name %s", file)
			}
			skip, err1 := strconv.ParseInt(parts[2], 10, 64)
			count, err2 := strconv.ParseInt(parts[3], 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("bad golden file name %s", file)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
			if int64(len(lines)) != count {
				t.Fatalf("%d lines, want %d", len(lines), count)
			}
			cfg.MaxEvents = skip + count
			g := NewGenerator(cfg)
			var e Event
			for i := int64(0); i < skip; i++ {
				if !g.Next(&e) {
					t.Fatalf("generator stopped after %d events", i)
				}
			}
			var want Event
			var buf []byte
			for i, line := range lines {
				if !g.Next(&e) {
					t.Fatalf("generator stopped at line %d", i)
				}
				if err := DecodeJSONLine(line, &want); err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				if e != want {
					t.Fatalf("event %d:\n got %+v\nwant %+v", skip+int64(i), e, want)
				}
				buf = AppendJSON(buf[:0], &e)
				if !bytes.Equal(buf, line) {
					t.Fatalf("event %d encodes as\n%s\nwant\n%s", skip+int64(i), buf, line)
				}
			}
			if g.Next(&e) {
				t.Fatal("generator did not stop at MaxEvents")
			}
		})
	}
}

// TestGoldenDigests compares SHA-256 digests of long runs (the JSON lines of every event, each
// followed by "\n"), and of a million prices, with those of Beam's Java generator recorded in
// testdata/beam-digests.txt.
func TestGoldenDigests(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "beam-digests.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 && len(fields) != 4 {
			t.Fatalf("bad digest line %q", sc.Text())
		}
		n++
		want := fields[len(fields)-1]
		h := sha256.New()
		if fields[0] == "prices" {
			seed, _ := strconv.ParseInt(fields[1], 10, 64)
			count, _ := strconv.Atoi(fields[2])
			g := &Generator{}
			g.rnd.SetSeed(seed)
			var buf []byte
			for i := 0; i < count; i++ {
				buf = strconv.AppendInt(buf[:0], g.nextPrice(), 10)
				buf = append(buf, '\n')
				h.Write(buf)
			}
		} else {
			cfg, ok := goldenConfigs[fields[0]]
			if !ok {
				t.Fatalf("unknown config in %q", sc.Text())
			}
			cfg.MaxEvents, _ = strconv.ParseInt(fields[1], 10, 64)
			g := NewGenerator(cfg)
			var e Event
			var buf []byte
			for g.Next(&e) {
				buf = AppendJSON(buf[:0], &e)
				buf = append(buf, '\n')
				h.Write(buf)
			}
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s: digest %s, want %s", strings.Join(fields[:len(fields)-1], " "), got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Fatalf("%d digests, want at least 4", n)
	}
}
