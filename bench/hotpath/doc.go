// Package hotpath holds Go benchmarks of the gateway's per-message hot path,
// run with -benchmem for allocations per message:
//
//	go test -run '^$' -bench . -benchmem ./bench/hotpath/ ./routing/
//
// BenchmarkDecodeSendRequest decodes a send request; BenchmarkSendHandler
// is POST /v1/messages through the gateway's API handler (httptest, real
// SQLite store in a temp dir, synchronous=FULL); BenchmarkProcess is one
// dispatcher step of a pre-claimed message with its Advance on the same
// store, sim channels at latency 0 and receipt_delay 0 (the delivered
// receipt's RecordReceipt runs asynchronously and its allocations count
// too). routing.BenchmarkStep is the routing decision and sim send alone,
// and store/sqlite's BenchmarkEnqueue* the store's enqueue.
package hotpath
