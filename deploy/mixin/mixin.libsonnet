// promcast's monitoring mixin: its recording rules, alerts and Grafana dashboards, for
// jsonnet-bundler users (kube-prometheus, the mixin tool, grafana/jsonnet-libs).
//
//   local promcast = (import 'promcast/deploy/mixin/mixin.libsonnet') + {
//     _config+:: {
//       exporterSelector: 'job="promcast-exporter"',
//       forecasterSelector: 'job="promcast-forecaster"',
//       thresholds+: {forecaster_stale_seconds: 1800},
//       overrides: [{match: {target: 'batch_disk'}, thresholds: {capacity_imminent_lead_time_ratio: 0.25}}],
//       teams+: {capacity: 'storage'},
//       runbookURLPattern: 'https://runbooks.example/promcast/%s',
//       grafanaURL: 'https://grafana.example',
//     },
//   };
//   { 'promcast.rules.yaml': std.manifestYamlDoc(promcast.prometheusRules + {groups+: promcast.prometheusAlerts.groups}) }
//
// It is the rules template (rules/source/promcast.rules.template.yml) as jsonnet: with the default
// _config it yields exactly rules/promcast.rules.yml (split into recording rules and alerts) and
// dashboards/*.json, and with any _config the rules that `python rules/generate.py --config`
// gives for the same settings (tests/integration/test_kubernetes.py compares both).
//
// _config (rules/source/config.yml under these names):
//   thresholds          every number an alert compares against
//   overrides           [{match: {label: value}, thresholds: {...}}]: thresholds of their own for
//                       the series with these exact label values; the first match wins
//   teams               the team label of each alert group (capacity, health, cost, rightsizing)
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
