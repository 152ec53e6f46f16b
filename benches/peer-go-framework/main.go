// Command terraform-provider-peer is a benchmark fixture, not a product: a minimal provider on
// terraform-plugin-framework (the framework most Go providers are written with) whose schema has
// the size and shape of terraform-provider-maestro's — four resources of about 25 attributes,
// one data source, one function, a provider block with a nested assume_role block. It lets
// scripts/bench-startup time a typical Go provider's start-up, handshake and GetProviderSchema
// beside ours, started and called in exactly the same way.
//
// Its resources keep whatever they are given (unknown computed values become fixed
// placeholders); nothing talks to AWS.
package main

import (
	"context"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
)

func main() {
	err := providerserver.Serve(context.Background(), newPeerProvider, providerserver.ServeOpts{
		Address:         "registry.terraform.io/maestro-iac/peer",
		ProtocolVersion: 6,
	})
	if err != nil {
		log.Fatal(err)
	}
}
