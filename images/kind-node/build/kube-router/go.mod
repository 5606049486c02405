// Wrapper module: builds kube-router (the kind node image's NetworkPolicy enforcer; ../../build-binaries.sh,
// ../../files/kind/manifests/default-cni.yaml) from the Go module proxy. v2.1.0 is the only version of
// github.com/cloudnativelabs/kube-router/v2 the proxy serves (no later tag, no pseudo-version).
//
// Dependency raises over kube-router v2.1.0's own go.mod, to get the fixes for the vulnerabilities
// govulncheck reports against it (checked with govulncheck v1.9.0 and the golang.org/x/vulndb
// module of 2026-11-05 as a local database. Before: 30 reachable + 4 imported-only + 23 in
// required modules; after: 17 + 2 + 5, of which 12 + 2 are in the Go 1.26.8 standard library
// (fixed in Go 1.26.9/1.26.10, not by this module) and 2 in aws-sdk-go's s3crypto (not linked)):
//   golang.org/x/net       v0.21.0  -> v0.62.0   HTTP/2 CONTINUATION flood GO-2024-2687, HTTP/2
//                                                 frame/HPACK/flow-control GO-2026-4918, -6603,
//                                                 -6610, -6611, -6612, -6617, punycode GO-2026-5026
//   golang.org/x/text      v0.14.0  -> v0.44.0   infinite loop on invalid input GO-2026-5970
//   google.golang.org/grpc v1.62.0  -> v1.85.0   :path authorization bypass GO-2026-4762, HTTP/2
//                                                 DATA fragmentation OOM GO-2026-6348, missing
//                                                 authority panic GO-2026-6443, GO-2026-6061
//   google.golang.org/protobuf v1.32.0 -> v1.36.12  protojson infinite loop GO-2024-2611;
//                                                 needed by the grpc raise anyway
//   github.com/docker/docker v25.0.3 -> v28.5.2  GO-2024-2659, GO-2025-3829 (the v25 line's fix,
//                                                 25.0.13, is not served); client package only,
//                                                 used by the service proxy (off here)
//   github.com/osrg/gobgp/v3 v3.23.0 -> v3.37.0  BGP parser crashes GO-2025-3631/3632/3633
//                                                 (router only, off here)
//   k8s.io/api, apimachinery, client-go, cri-api v0.29.2 -> v0.34.4  the cluster's own version
//                                                 (Kubernetes v1.34.4, ../go.mod); no open advisory
//   (the rest moved up by minimum version selection, among them x/oauth2 v0.17.0 -> v0.36.0 for
//   GO-2025-3488 and x/sys v0.17.0 -> v0.49.0 for GO-2026-5024; also x/term, otel, klog)
// Still reported, without a fix that applies: kube-router GO-2026-4724 (service proxy, fixed in
// v2.8.0) and GO-2026-5653 (router's GoBGP admin port, fixed in v2.9.0), gobgp GO-2026-4736,
// docker GO-2026-4883/4887 (daemon AuthZ plugins): all in code paths that --run-firewall=true
// --run-router=false --run-service-proxy=false never starts. These versions need Go >= 1.26.
// Change a version with `go get MODULE@VERSION && go mod tidy` here; build-binaries.sh rebuilds on any
// go.mod/go.sum change.
module sentiment.local/kube-router-build

go 1.26.0

require github.com/cloudnativelabs/kube-router/v2 v2.1.0

require (
	github.com/aws/aws-sdk-go v1.50.30 // indirect
	github.com/coreos/go-iptables v0.7.0 // indirect
	github.com/docker/docker v28.5.2+incompatible // indirect
	github.com/hashicorp/go-version v1.6.0 // indirect
	github.com/moby/ipvs v1.1.0 // indirect
	github.com/osrg/gobgp/v3 v3.37.0 // indirect
	github.com/prometheus/client_golang v1.19.0 // indirect
	github.com/spf13/pflag v1.0.6 // indirect
	github.com/vishvananda/netlink v1.2.1 // indirect
	github.com/vishvananda/netns v0.0.4 // indirect
	golang.org/x/exp v0.0.0-20240222234643-814bf88cf225 // indirect
	golang.org/x/net v0.62.0 // indirect
	google.golang.org/grpc v1.85.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	k8s.io/api v0.34.4 // indirect
	k8s.io/apimachinery v0.34.4 // indirect
	k8s.io/client-go v0.34.4 // indirect
	k8s.io/cri-api v0.34.4 // indirect
	k8s.io/klog/v2 v2.130.1 // indirect
	k8s.io/utils v0.0.0-20250604170112-4c0f3b243397 // indirect
)

require (
	github.com/Azure/go-ansiterm v0.0.0-20210617225240-d185dfc1b5a1 // indirect
	github.com/Microsoft/go-winio v0.6.1 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cenkalti/backoff/v4 v4.2.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/containerd/errdefs v1.0.0 // indirect
	github.com/containerd/errdefs/pkg v0.3.0 // indirect
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/dgryski/go-farm v0.0.0-20200201041132-a6ae2369ad13 // indirect
	github.com/distribution/reference v0.5.0 // indirect
	github.com/docker/go-connections v0.5.0 // indirect
	github.com/docker/go-units v0.5.0 // indirect
	github.com/eapache/channels v1.1.0 // indirect
	github.com/eapache/queue v1.1.0 // indirect
	github.com/emicklei/go-restful/v3 v3.12.2 // indirect
	github.com/felixge/httpsnoop v1.0.4 // indirect
	github.com/fsnotify/fsnotify v1.7.0 // indirect
	github.com/fxamacker/cbor/v2 v2.9.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/go-openapi/jsonpointer v0.21.0 // indirect
	github.com/go-openapi/jsonreference v0.20.4 // indirect
	github.com/go-openapi/swag v0.23.0 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/google/gnostic-models v0.7.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/hashicorp/hcl v1.0.0 // indirect
	github.com/jmespath/go-jmespath v0.4.0 // indirect
	github.com/josharian/intern v1.0.0 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/k-sone/critbitgo v1.4.0 // indirect
	github.com/magiconair/properties v1.8.7 // indirect
	github.com/mailru/easyjson v0.7.7 // indirect
	github.com/mitchellh/mapstructure v1.5.0 // indirect
	github.com/moby/docker-image-spec v1.3.1 // indirect
	github.com/moby/sys/atomicwriter v0.1.0 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.0 // indirect
	github.com/pelletier/go-toml/v2 v2.1.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	github.com/prometheus/client_model v0.6.0 // indirect
	github.com/prometheus/common v0.49.0 // indirect
	github.com/prometheus/procfs v0.12.0 // indirect
	github.com/sagikazarmark/locafero v0.4.0 // indirect
	github.com/sagikazarmark/slog-shim v0.1.0 // indirect
	github.com/sirupsen/logrus v1.9.3 // indirect
	github.com/sourcegraph/conc v0.3.0 // indirect
	github.com/spf13/afero v1.11.0 // indirect
	github.com/spf13/cast v1.6.0 // indirect
	github.com/spf13/viper v1.18.2 // indirect
	github.com/subosito/gotenv v1.6.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp v0.49.0 // indirect
	go.opentelemetry.io/otel v1.45.0 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace v1.24.0 // indirect
	go.opentelemetry.io/otel/metric v1.45.0 // indirect
	go.opentelemetry.io/otel/trace v1.45.0 // indirect
	go.opentelemetry.io/proto/otlp v1.1.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	go.yaml.in/yaml/v3 v3.0.4 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/oauth2 v0.36.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/term v0.47.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	golang.org/x/time v0.9.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	gopkg.in/evanphx/json-patch.v4 v4.12.0 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
	gopkg.in/ini.v1 v1.67.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
	k8s.io/kube-openapi v0.0.0-20250710124328-f3f2b991d03b // indirect
	sigs.k8s.io/json v0.0.0-20241014173422-cfa47c3a1cc8 // indirect
	sigs.k8s.io/randfill v1.0.0 // indirect
	sigs.k8s.io/structured-merge-diff/v6 v6.3.0 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)
