// kcm-status-writer: a stand-in for kcm's ClusterDeployment status writer, for chaingate's tests
// (see ../../status-writer.ts, which builds and runs it). It runs a controller-runtime controller
// like kcm v1.11.4's ClusterDeploymentReconciler (internal/controller/clusterdeployment_controller.go):
// For(&ClusterDeployment{}) with no predicate, so every add/update event (its own writes included)
// reconciles, and its only job is kcm's part of updateStatus that touches
// status.servicesUpgradePaths: compute the paths as kcm's serviceset.ServicesUpgradePaths does
// (internal/serviceset/util.go, reproduced below because internal/ cannot be imported; the chain
// math is kcm's own TemplateChainSpec.UpgradePaths), compare with equality.Semantic.DeepEqual, and
// when they differ send a full Status().Update of the object (field manager "kcm-stand-in"). A
// 409 Conflict is returned as an error, so controller-runtime requeues it with backoff.
//
// The order of the paths is kcm's: UpgradePaths ranges over a Go map, so a chain with several
// destinations may come out in a new order on any event and be written again. That is kept.
//
// stdout, one JSON object a line:
//
//	{"ready":true}                                             caches synced, watching
//	{"write":"ns/name","resourceVersion":"123","writes":1,"conflicts":0}
//	{"conflict":"ns/name","writes":1,"conflicts":1}
//
// Flags: --kubeconfig (required), --namespace (default: all namespaces). It exits on SIGTERM/SIGINT
// and when stdin reaches EOF (so it never outlives the test process that spawned it).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	kcmv1 "github.com/K0rdent/kcm/api/v1beta1"
	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

const fieldManager = "kcm-stand-in"

var (
	outMu     sync.Mutex
	writes    atomic.Int64
	conflicts atomic.Int64
)

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	outMu.Lock()
	defer outMu.Unlock()
	_, _ = os.Stdout.Write(append(b, '\n'))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kcm-status-writer: "+format+"\n", args...)
}

// effectiveNamespace is kcm's (internal/serviceset/util.go).
func effectiveNamespace(serviceNamespace string) string {
	if serviceNamespace == "" {
		return metav1.NamespaceDefault
	}
	return serviceNamespace
}

// servicesUpgradePaths reproduces kcm v1.11.4's serviceset.ServicesUpgradePaths: a service without
// templateChain lists itself as its one upgrade; a chain that cannot be read (or UpgradePaths'
// error) skips that service and joins the error; chains are looked up in namespace (the
// ClusterDeployment's).
func servicesUpgradePaths(ctx context.Context, c client.Client, services []kcmv1.Service, namespace string) ([]kcmv1.ServiceUpgradePaths, error) {
	var errs error
	out := make([]kcmv1.ServiceUpgradePaths, 0, len(services))
	for _, svc := range services {
		sup := kcmv1.ServiceUpgradePaths{
			Name:      svc.Name,
			Namespace: effectiveNamespace(svc.Namespace),
			Template:  svc.Template,
		}
		if svc.TemplateChain == "" {
			if svc.Version == "" {
				svc.Version = svc.Template
			}
			sup.AvailableUpgrades = append(sup.AvailableUpgrades, kcmv1.UpgradePath{
				Versions: []kcmv1.AvailableUpgrade{{Name: svc.Template, Version: svc.Version}},
			})
			out = append(out, sup)
			continue
		}
		chain := new(kcmv1.ServiceTemplateChain)
		key := client.ObjectKey{Name: svc.TemplateChain, Namespace: namespace}
		if err := c.Get(ctx, key, chain); err != nil {
			errs = errors.Join(errs, fmt.Errorf("failed to get ServiceTemplateChain %s to fetch upgrade paths: %w", key.String(), err))
			continue
		}
		paths, err := chain.Spec.UpgradePaths(svc.Template)
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("failed to get upgrade paths for ServiceTemplate %s: %w", svc.Template, err))
			continue
		}
		sup.AvailableUpgrades = paths
		out = append(out, sup)
	}
	return out, errs
}

type reconciler struct {
	client client.Client
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cd := new(kcmv1.ClusterDeployment)
	if err := r.client.Get(ctx, req.NamespacedName, cd); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	oldStatus := cd.Status.DeepCopy()
	paths, pathsErr := servicesUpgradePaths(ctx, r.client, cd.Spec.ServiceSpec.Services, cd.Namespace)
	if pathsErr != nil {
		// kcm sets what it could compute and reports the error; here it is logged.
		logf("%s: %v", req.NamespacedName, pathsErr)
	}
	// What the apiserver would give back: a JSON round trip of the computed value.
	if b, err := json.Marshal(paths); err == nil {
		var rt []kcmv1.ServiceUpgradePaths
		if err := json.Unmarshal(b, &rt); err == nil {
			paths = rt
		}
	}
	cd.Status.ServicesUpgradePaths = paths
	if equality.Semantic.DeepEqual(*oldStatus, cd.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.client.Status().Update(ctx, cd, client.FieldOwner(fieldManager)); err != nil {
		if apierrors.IsConflict(err) {
			n := conflicts.Add(1)
			emit(map[string]any{"conflict": req.String(), "writes": writes.Load(), "conflicts": n})
		}
		return ctrl.Result{}, fmt.Errorf("failed to update status for clusterDeployment %s: %w", req, err)
	}
	n := writes.Add(1)
	emit(map[string]any{"write": req.String(), "resourceVersion": cd.ResourceVersion, "writes": n, "conflicts": conflicts.Load()})
	return ctrl.Result{}, nil
}

func main() {
	// Its own FlagSet: controller-runtime's config package registers --kubeconfig on the default one.
	flags := flag.NewFlagSet("kcm-status-writer", flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the cluster to watch")
	namespace := flags.String("namespace", "", "watch only this namespace (default: all)")
	_ = flags.Parse(os.Args[1:])
	if *kubeconfig == "" {
		logf("--kubeconfig is required")
		os.Exit(2)
	}
	ctrl.SetLogger(funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{}))

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		logf("kubeconfig: %v", err)
		os.Exit(1)
	}
	cfg.UserAgent = fieldManager

	scheme := runtime.NewScheme()
	if err := kcmv1.AddToScheme(scheme); err != nil {
		logf("scheme: %v", err)
		os.Exit(1)
	}
	opts := manager.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
	}
	if *namespace != "" {
		opts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{*namespace: {}}}
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		logf("manager: %v", err)
		os.Exit(1)
	}
	if err := ctrl.NewControllerManagedBy(mgr).
		For(&kcmv1.ClusterDeployment{}).
		Named("kcm-stand-in-clusterdeployment").
		Complete(&reconciler{client: mgr.GetClient()}); err != nil {
		logf("controller: %v", err)
		os.Exit(1)
	}
	// The chain informer is started by the first Get; start it up front so "ready" means both synced.
	if _, err := mgr.GetCache().GetInformer(context.Background(), &kcmv1.ServiceTemplateChain{}); err != nil {
		logf("chain informer: %v", err)
		os.Exit(1)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			emit(map[string]any{"ready": true})
		}
		return nil
	})); err != nil {
		logf("ready runnable: %v", err)
		os.Exit(1)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := mgr.Start(ctx); err != nil {
		logf("%v", err)
		os.Exit(1)
	}
}
