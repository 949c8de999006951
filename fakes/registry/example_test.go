package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/pipechaos/pipechaos/fakes/httpfault"
	"github.com/pipechaos/pipechaos/fakes/registry"
)

func ExampleNew() {
	reg, err := registry.New(registry.Compatibility(sr.CompatBackward))
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cl, _ := sr.NewClient(sr.URLs(reg.URL()), sr.HTTPClient(&http.Client{Transport: tr}))
	ctx := context.Background()

	v1 := `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`
	withDefault := `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`
	required := `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""},{"name":"customer","type":"string"}]}`

	s, _ := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: v1})
	fmt.Println("v1:", s.Version)
	s, _ = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: withDefault})
	fmt.Println("add field with default:", s.Version)
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: required})
	var re *sr.ResponseError
	fmt.Println("add required field rejected:", errors.As(err, &re) && re.StatusCode == 409)

	reg.Faults().Inject(httpfault.Fault{Status: 503})
	_, err = cl.SchemaByID(ctx, s.ID)
	fmt.Println("during a fault:", errors.As(err, &re) && re.ErrorCode == 50301)
	reg.Faults().Heal()
	// Output:
	// v1: 1
	// add field with default: 2
	// add required field rejected: true
	// during a fault: true
}
