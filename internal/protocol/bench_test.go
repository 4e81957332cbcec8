package protocol

import (
	"bytes"
	"fmt"
	"testing"
)

var benchSizes = []int{0, 1 << 10, 64 << 10}

func benchService(size int) *Service {
	s := examples()[ActionService].(*Service)
	s.Body = bytes.Repeat([]byte("x"), size)
	return s
}

func benchAnswer(size int) *Answer {
	a := examples()[ActionAnswer].(*Answer)
	a.Answer.Body = bytes.Repeat([]byte("x"), size)
	return a
}

// BenchmarkEncode and BenchmarkDecode measure the hot path: service in, answer out.
func BenchmarkEncode(b *testing.B) {
	for _, c := range []Codec{JSON, EDN} {
		for _, size := range benchSizes {
			for name, m := range map[string]Message{"service": benchService(size), "answer": benchAnswer(size)} {
				b.Run(fmt.Sprintf("%s/%s/%dB", name, codecName(c), size), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := Encode(c, m); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range []Codec{JSON, EDN} {
		for _, size := range benchSizes {
			for name, m := range map[string]Message{"service": benchService(size), "answer": benchAnswer(size)} {
				body, err := Encode(c, m)
				if err != nil {
					b.Fatal(err)
				}
				b.Run(fmt.Sprintf("%s/%s/%dB", name, codecName(c), size), func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(len(body)))
					for b.Loop() {
						if err := DecodeAs(string(c), body, newMessage(name)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func codecName(c Codec) string {
	if c == EDN {
		return "edn"
	}
	return "json"
}
