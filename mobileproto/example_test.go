package mobileproto_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

// A driver app sends a fix and waits until it is stored; a rider app tracks
// that driver, gets the newest fix at once and then every new one.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws://127.0.0.1:8080" + mobileproto.Path // a node started with: go run ./node/cmd/rtlsd -dev

	driver, err := mobileproto.Dial(ctx, url, mobileproto.WithIdentity(mobileproto.RoleDriver, "d-17"))
	if err != nil {
		log.Fatal(err)
	}
	defer driver.Close()
	ack, err := driver.SendLocation(ctx, mobileproto.Fix{Latitude: 12.9716, Longitude: 77.5946, Speed: mobileproto.Float64(8.3)})
	if err != nil {
		log.Fatal(err) // a *mobileproto.Error says why the node refused it
	}
	fmt.Println("stored at cursor", ack.Cursor)

	rider, err := mobileproto.Dial(ctx, url, mobileproto.WithIdentity(mobileproto.RoleRider, "r-9"))
	if err != nil {
		log.Fatal(err)
	}
	defer rider.Close()
	if _, err := rider.Track(ctx, "d-17", mobileproto.TrackOptions{}); err != nil {
		log.Fatal(err)
	}
	for loc := range rider.Locations() {
		fmt.Println(loc.Driver, loc.Latitude, loc.Longitude, loc.Cursor, loc.Replay)
	}
}
