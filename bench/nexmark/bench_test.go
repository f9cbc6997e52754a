package nexmark

import "testing"

// BenchmarkGenerator measures generating the default stream into a reused Event; one op is one
// event.
func BenchmarkGenerator(b *testing.B) {
	g := NewGenerator(GeneratorConfig{})
	var e Event
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.Next(&e)
	}
}

// BenchmarkGeneratorJSON measures generating and encoding the default stream as JSON lines; one
// op is one event.
func BenchmarkGeneratorJSON(b *testing.B) {
	g := NewGenerator(GeneratorConfig{})
	var e Event
	buf := make([]byte, 0, 1024)
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.Next(&e)
		buf = AppendJSON(buf[:0], &e)
		buf = append(buf, '\n')
		bytes += int64(len(buf))
	}
	b.SetBytes(bytes / int64(b.N))
}

// BenchmarkDecodeJSONLine measures decoding JSON lines of the default stream; one op is one
// line.
func BenchmarkDecodeJSONLine(b *testing.B) {
	events := generate(b, DefaultConfig(), 500)
	lines := make([][]byte, len(events))
	for i := range events {
		lines[i] = AppendJSON(nil, &events[i])
	}
	var e Event
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := DecodeJSONLine(lines[i%len(lines)], &e); err != nil {
			b.Fatal(err)
		}
	}
}
