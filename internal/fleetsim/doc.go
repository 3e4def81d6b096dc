// Package fleetsim simulates a fleet of delivery drivers for demos and
// benchmarks: each driver drives through a generated city (a jittered grid
// of streets around a centre, turning at intersections and stopping for
// deliveries now and then) and sends its position as a real driver app
// would, through mobileproto.Client over a node's WebSocket edge.
//
// Start(ctx, Config{URLs: …, Drivers: 300}) returns a running *Fleet; cancel
// ctx or call Stop to end it. The city and the journeys are reproducible
// from City.Seed; only the fixes' times follow the wall clock. City and
// Vehicle are usable without a network for tests of their own.
//
// Concurrency: Start, Stop, Wait and Stats are safe for concurrent use; a
// Fleet runs one goroutine per driver and Stop waits for all of them. A
// City is immutable; a Vehicle belongs to one goroutine.
package fleetsim
