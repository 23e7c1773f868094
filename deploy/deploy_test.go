package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizations are every kustomization a README command applies.
var kustomizations = []string{
	"kubernetes/overlays/generic",
	"kubernetes/overlays/longhorn",
	"kubernetes/overlays/cronjob",
	"kubernetes/prometheus-operator",
}

// The Prometheus operator's types are not imported (a large module for two
// kinds); these mirror the fields the manifests use, decoded strictly too.
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port        string `json:"port"`
			Path        string `json:"path"`
			Interval    string `json:"interval"`
			Relabelings []struct {
				SourceLabels []string `json:"sourceLabels"`
				TargetLabel  string   `json:"targetLabel"`
			} `json:"relabelings"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleGroups `json:"spec"`
}

func build(t *testing.T, dir string) [][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	var docs [][]byte
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		require.NoError(t, err)
		docs = append(docs, y)
	}
	return docs
}

// decode strictly: an unknown or misspelt field fails.
func decode(t *testing.T, doc []byte) any {
	t.Helper()
	var tm metav1.TypeMeta
	require.NoError(t, yaml.Unmarshal(doc, &tm))
	var obj any
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/Namespace":
		obj = &corev1.Namespace{}
	case "apps/v1/DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "batch/v1/CronJob":
		obj = &batchv1.CronJob{}
	case "monitoring.coreos.com/v1/PodMonitor":
		obj = &podMonitor{}
	case "monitoring.coreos.com/v1/PrometheusRule":
		obj = &prometheusRule{}
	default:
		t.Fatalf("no decoder for %s %s:\n%s", tm.APIVersion, tm.Kind, doc)
	}
	strictDecode(t, doc, obj)
	return obj
}

// strictDecode fails on unknown, duplicate or wrongly cased fields
// (encoding/json, and so sigs.k8s.io/yaml, matches field names case-blind:
// hostPid would pass as hostPID).
func strictDecode(t *testing.T, doc []byte, obj any) {
	t.Helper()
	js, err := yaml.YAMLToJSONStrict(doc)
	require.NoError(t, err)
	strict, err := sjson.UnmarshalStrict(js, obj, sjson.DisallowDuplicateFields, sjson.DisallowUnknownFields)
	require.NoError(t, err)
	require.Empty(t, strict, "strict decode:\n%s", doc)
}

func podSpec(obj any) *corev1.PodSpec {
	switch o := obj.(type) {
	case *appsv1.DaemonSet:
		return &o.Spec.Template.Spec
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec
	}
	return nil
}

func TestKustomizationsDecodeStrictly(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			docs := build(t, dir)
			require.NotEmpty(t, docs)
			for _, d := range docs {
				obj := decode(t, d)
				ps := podSpec(obj)
				if ps == nil {
					continue
				}
				vols := map[string]bool{}
				for _, v := range ps.Volumes {
					vols[v.Name] = true
				}
				for _, c := range ps.Containers {
					require.Equal(t, "ghcr.io/lvfsck/lvfsck:latest", c.Image, "image transform")
					require.NotNil(t, c.Resources.Limits.Cpu(), "cpu limit")
					require.False(t, c.Resources.Limits.Memory().IsZero(), "memory limit of %s", c.Name)
					for _, m := range c.VolumeMounts {
						require.True(t, vols[m.Name], "mount %s has no volume", m.Name)
						if m.MountPath == "/dev" {
							require.True(t, m.ReadOnly, "devices are mounted read-only")
						}
					}
					require.Contains(t, c.Args, "--state-dir=/var/lib/lvfsck")
				}
				require.True(t, ps.HostPID, "hostPID: the target may be in another container")
				require.Equal(t, "lvfsck", obj.(metav1.Object).GetNamespace())
			}
		})
	}
}

func TestLonghornReachesTheTargetThroughProc(t *testing.T) {
	for _, d := range build(t, "kubernetes/overlays/longhorn") {
		if ds, ok := decode(t, d).(*appsv1.DaemonSet); ok {
			c := ds.Spec.Template.Spec.Containers[0]
			require.Contains(t, c.Args, "--target-process=spdk_tgt")
			for _, m := range c.VolumeMounts {
				require.NotEqual(t, "/var/tmp", m.MountPath, "the socket is inside the instance-manager pod, not on the host")
			}
			return
		}
	}
	t.Fatal("no DaemonSet in the longhorn overlay")
}

func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	raw, err := os.ReadFile("prometheus/lvfsck.rules.yml")
	require.NoError(t, err)
	var file ruleGroups
	strictDecode(t, raw, &file)
	raw, err = os.ReadFile("kubernetes/prometheus-operator/prometheusrule.yaml")
	require.NoError(t, err)
	pr, ok := decode(t, raw).(*prometheusRule)
	require.True(t, ok)
	require.Equal(t, file, pr.Spec, "prometheusrule.yaml must carry the groups of lvfsck.rules.yml")
}

// promtool comes from Debian's prometheus package (.ci/run installs it).
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool not found: apt-get install -y prometheus (the alert rules are checked with it)")
	var out bytes.Buffer
	cmd := exec.Command(p, args...)
	cmd.Dir = "prometheus"
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "promtool %s:\n%s", strings.Join(args, " "), out.String())
	return out.String()
}

func TestRulesPromtool(t *testing.T) {
	promtool(t, "check", "rules", "lvfsck.rules.yml")
	promtool(t, "test", "rules", "lvfsck.rules.test.yml")
}

// Every alert has a unit test, a runbook in the repo, and fires in a test.
func TestEveryAlertTestedWithRunbook(t *testing.T) {
	raw, err := os.ReadFile("prometheus/lvfsck.rules.yml")
	require.NoError(t, err)
	var file ruleGroups
	strictDecode(t, raw, &file)
	tests, err := os.ReadFile("prometheus/lvfsck.rules.test.yml")
	require.NoError(t, err)
	const prefix = "https://github.com/lvfsck/lvfsck/blob/main/"
	n := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			n++
			url := r.Annotations["runbook_url"]
			require.True(t, strings.HasPrefix(url, prefix), "%s: runbook_url %q", r.Alert, url)
			_, err := os.Stat(filepath.Join("..", strings.TrimPrefix(url, prefix)))
			require.NoError(t, err, "%s: runbook missing", r.Alert)
			fires := regexp.MustCompile(`alertname: ` + r.Alert + `\n\s+exp_alerts:\n\s+- exp_labels`)
			require.Regexp(t, fires, string(tests), "%s: no unit test where it fires", r.Alert)
		}
	}
	require.Equal(t, 6, n)
}

// The node-problem-detector custom plugin config: known fields only, and a
// plugin run that fits its timeout with a one-line message.
func TestNPDConfig(t *testing.T) {
	raw, err := os.ReadFile("node-problem-detector/lvfsck-monitor.json")
	require.NoError(t, err)
	var c struct {
		Plugin       string `json:"plugin"`
		PluginConfig struct {
			InvokeInterval      string `json:"invoke_interval"`
			Timeout             string `json:"timeout"`
			MaxOutputLength     int    `json:"max_output_length"`
			Concurrency         int    `json:"concurrency"`
			EnableMessageChange bool   `json:"enable_message_change_based_condition_update"`
		} `json:"pluginConfig"`
		Source           string `json:"source"`
		MetricsReporting bool   `json:"metricsReporting"`
		Conditions       []struct {
			Type    string `json:"type"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
		Rules []struct {
			Type      string   `json:"type"`
			Condition string   `json:"condition"`
			Reason    string   `json:"reason"`
			Path      string   `json:"path"`
			Args      []string `json:"args"`
			Timeout   string   `json:"timeout"`
		} `json:"rules"`
	}
	strictDecode(t, raw, &c)
	require.Equal(t, "custom", c.Plugin)
	require.Equal(t, 80, c.PluginConfig.MaxOutputLength)
	require.Len(t, c.Rules, 1)
	require.Equal(t, c.Conditions[0].Type, c.Rules[0].Condition)
	require.Equal(t, []string{"check", "--npd"}, c.Rules[0].Args[:2])
}

// TestContainerArgsParse: every container's args are flags the lvfsck
// binary of this repo knows (cobra rejects an unknown flag before --help),
// so a manifest cannot name a flag that does not exist.
func TestContainerArgsParse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds lvfsck")
	}
	bin := filepath.Join(t.TempDir(), "lvfsck")
	gob := exec.Command("go", "build", "-o", bin, "./cmd/lvfsck")
	gob.Dir = ".."
	out, err := gob.CombinedOutput()
	require.NoError(t, err, "%s", out)
	seen := 0
	for _, dir := range kustomizations {
		for _, d := range build(t, dir) {
			ps := podSpec(decode(t, d))
			if ps == nil {
				continue
			}
			for _, c := range ps.Containers {
				require.Empty(t, c.Command, "the image's entrypoint is lvfsck")
				out, err := exec.Command(bin, append(c.Args, "--help")...).CombinedOutput()
				require.NoError(t, err, "%s: lvfsck %v:\n%s", dir, c.Args, out)
				seen++
			}
		}
	}
	require.NotZero(t, seen)
}

// TestContainerfile checks the Containerfile, which no engine on the CI
// machine can build (make release builds the same image without one): the
// image has a static base (no libc, no shell, so no RUN), copies a binary
// make release writes for each arch, and has lvfsck as its entrypoint
// (TestContainerArgsParse relies on that for the manifests' args), the
// watch command and user 0:0.
func TestContainerfile(t *testing.T) {
	raw, err := os.ReadFile("container/Containerfile")
	require.NoError(t, err)
	mk, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	require.Contains(t, string(mk), "-o dist/lvfsck-linux-$$a ", "make release's binary name")
	require.Regexp(t, `(?m)^ARCHES\s*\?=\s*amd64 arm64$`, string(mk))

	var from, entry, cmd, user []string
	var copies [][]string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			from = append(from, f[1])
		case "COPY":
			copies = append(copies, f[1:])
		case "ENTRYPOINT":
			entry = f[1:]
		case "CMD":
			cmd = f[1:]
		case "USER":
			user = f[1:]
		case "RUN":
			t.Fatalf("RUN needs a shell the static base lacks: %s", line)
		}
	}
	// Distroless static, not scratch: without RUN, only a base can give
	// the image its /tmp (see the Containerfile).
	require.Len(t, from, 1)
	require.Regexp(t, `^gcr\.io/distroless/static(-debian\d+)?(:[\w.-]+)?$`, from[0])
	// What make release's image (packaging/ociimage) runs; packaging's
	// tests compare the two.
	require.Equal(t, []string{`["/usr/bin/lvfsck"]`}, entry)
	require.Equal(t, []string{`["watch",`, `"--state-dir",`, `"/var/lib/lvfsck"]`}, cmd)
	require.Equal(t, []string{"0:0"}, user)
	require.Len(t, copies, 1)
	require.Equal(t, []string{"dist/lvfsck-linux-${TARGETARCH}", "/usr/bin/lvfsck"}, copies[0])
}
