// promcast's monitoring mixin: its recording rules, alerts and Grafana dashboards, for
// jsonnet-bundler users (kube-prometheus, the mixin tool, grafana/jsonnet-libs).
//
//   local promcast = (import 'promcast/deploy/mixin/mixin.libsonnet') + {
//     _config+:: {
//       exporterSelector: 'job="promcast-exporter"',
//       forecasterSelector: 'job="promcast-forecaster"',
//       thresholds+: {forecaster_stale_seconds: 1800},
//       runbookURLPattern: 'https://runbooks.example/promcast/%s',
//       grafanaURL: 'https://grafana.example',
//     },
//   };
//   { 'promcast.rules.yaml': std.manifestYamlDoc(promcast.prometheusRules + {groups+: promcast.prometheusAlerts.groups}) }
//
// With the default _config it yields exactly rules/promcast.rules.yml (split into recording
// rules and alerts) and dashboards/*.json: deploy/generate.py writes generated.libsonnet from
// them and tests/test_kubernetes.py compares the outputs.
//
// _config:
//   thresholds          every number an alert compares against (rule group promcast.thresholds)
//   exporterSelector    matchers added to every exporter series in the rules ('' = none)
//   forecasterSelector  matchers added to every forecaster series in the rules ('' = none)
//   runbookURLPattern   the alerts' runbook_url, %s = the alert's name in lower case
//   grafanaURL          the base URL of the alerts' dashboard links
local generated = import 'generated.libsonnet';

{
  _config+:: generated.defaults,

  local groups(kind) = [g.group for g in generated.groups($._config) if g.kind == kind],

  prometheusRules+:: { groups+: groups('record') },
  prometheusAlerts+:: { groups+: groups('alert') },
  grafanaDashboards+:: generated.dashboards,
}
