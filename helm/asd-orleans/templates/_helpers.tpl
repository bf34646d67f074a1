{{/* Release-scoped name of the chart's objects, at most 63 characters. */}}
{{- define "asd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "asd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "asd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "asd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "asd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "asd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Secret with the API keys: the user's, or the chart's own. */}}
{{- define "asd.apiKeysSecret" -}}
{{- if .Values.apiKeys.existingSecret -}}
{{- .Values.apiKeys.existingSecret -}}
{{- else -}}
{{- include "asd.fullname" . }}-api-keys
{{- end -}}
{{- end -}}

{{/* Secret and key holding the silos' Redis connection string. */}}
{{- define "asd.redisSecret" -}}
{{- if and (not .Values.redis.deploy) .Values.redis.existingSecret -}}
{{- .Values.redis.existingSecret -}}
{{- else -}}
{{- include "asd.fullname" . }}-redis
{{- end -}}
{{- end -}}

{{- define "asd.redisSecretKey" -}}
{{- if and (not .Values.redis.deploy) .Values.redis.existingSecret -}}
{{- .Values.redis.existingSecretKey -}}
{{- else -}}
connection-string
{{- end -}}
{{- end -}}

{{/* The encoder model file: model.path, else encoder.asdm in the model claim, else none. */}}
{{- define "asd.modelPath" -}}
{{- if .Values.model.path -}}
{{- .Values.model.path -}}
{{- else if .Values.model.existingClaim -}}
{{- printf "%s/encoder.asdm" (trimSuffix "/" .Values.model.mountPath) -}}
{{- end -}}
{{- end -}}

{{/* Refuses an embedder and model file that `asd silo` would refuse at start, so a bad install fails here instead. */}}
{{- define "asd.checkEmbedder" -}}
{{- $embedder := .Values.embedder | default "" -}}
{{- $model := include "asd.modelPath" . -}}
{{- if not (has $embedder (list "" "model" "spectral" "baseline")) -}}
{{- fail (printf "embedder: %q is not one of model, spectral, baseline (or empty)" $embedder) -}}
{{- end -}}
{{- if and (eq $embedder "model") (not $model) -}}
{{- fail "embedder model needs a model file: set model.existingClaim (a PVC holding encoder.asdm) or model.path (a file in the image); or leave embedder empty for the training-free spectral embedder" -}}
{{- end -}}
{{- if and (has $embedder (list "spectral" "baseline")) $model -}}
{{- fail (printf "embedder %s is training-free: drop model.path and model.existingClaim" $embedder) -}}
{{- end -}}
{{- end -}}

{{/* The connection string the chart puts into its Redis secret. */}}
{{- define "asd.redisConnectionString" -}}
{{- if .Values.redis.deploy -}}
{{- if contains "," (toString .Values.redis.password) -}}
{{- fail "redis.password cannot contain ',': the silos read it inside a StackExchange.Redis connection string, where ',' separates options" -}}
{{- end -}}
{{- include "asd.fullname" . }}-redis:6379,abortConnect=false
{{- if .Values.redis.password -}},password={{ .Values.redis.password }}{{- end -}}
{{- else -}}
{{- required "redis.connectionString (or redis.existingSecret) is required when redis.deploy is false" .Values.redis.connectionString -}}
{{- end -}}
{{- end -}}

{{- define "asd.clipsClaim" -}}
{{- if .Values.clipStore.existingClaim -}}
{{- .Values.clipStore.existingClaim -}}
{{- else -}}
{{- include "asd.fullname" . }}-clips
{{- end -}}
{{- end -}}

{{/* A URL the silos accept as an alert-webhook setting (absolute http or https), or a refusal naming the value. */}}
{{- define "asd.httpUrl" -}}
{{- if not (regexMatch "^https?://[^/?#\\s]+" (toString .value)) -}}
{{- fail (printf "%s: %q is not an absolute http or https URL" .name (toString .value)) -}}
{{- end -}}
{{- .value -}}
{{- end -}}
