{{/* The deployment's name on the shared cluster (LGNET_DEPLOYMENT): the city unless given. */}}
{{- define "lgnet.deployment" -}}
{{- default .Values.city .Values.deployment -}}
{{- end -}}

{{- define "lgnet.labels" -}}
app.kubernetes.io/part-of: lgnet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
lgnet.it/deployment: {{ include "lgnet.deployment" . }}
{{- end -}}

{{/* Selector labels of one service: call with (dict "root" $ "service" $name). */}}
{{- define "lgnet.selector" -}}
app.kubernetes.io/name: lgnet-{{ .service }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "lgnet.fullname" -}}
{{- printf "%s-%s" .root.Release.Name .service | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Kafka principal of one service of this deployment, as lgnet_shared.kafka_acls names it. */}}
{{- define "lgnet.principal" -}}
{{- printf "service.%s.%s" (include "lgnet.deployment" .root) .service -}}
{{- end -}}

{{- /* The notary's own principal (`lgnet-kafka-admin strimzi --notary`): the only one that writes lgnet.checkpoints. */}}
{{- define "lgnet.notaryPrincipal" -}}
{{- printf "notary.%s" (include "lgnet.deployment" .) -}}
{{- end -}}

{{/* The service the scheduler runs beside and from whose image (lgnet-scheduler is in every service's image): housing,
else intake, else payments, the services with daily jobs (shared/src/lgnet_shared/scheduler/jobs.toml). "" where none
runs (the national deployment runs reporting only) or the scheduler is disabled: no scheduler is rendered. */}}
{{- define "lgnet.schedulerBeside" -}}
{{- if .Values.scheduler.enabled -}}
{{- if .Values.services.housing.enabled -}}housing
{{- else if .Values.services.intake.enabled -}}intake
{{- else if .Values.services.payments.enabled -}}payments
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The image a component runs: its own `image` (repository, tag, pullPolicy: each optional) over the chart's. Call
with (dict "root" $ "image" <the component's image, or nil>); renders `image` and `imagePullPolicy`. */}}
{{- define "lgnet.image" -}}
{{- $image := mergeOverwrite (deepCopy .root.Values.image) (default (dict) .image) -}}
image: "{{ $image.repository }}:{{ $image.tag }}"
imagePullPolicy: {{ $image.pullPolicy }}
{{- end -}}
