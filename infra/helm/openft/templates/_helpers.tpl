{{/* Names, labels and the env blocks every openft pod shares. */}}

{{- define "openft.fullname" -}}
{{- printf "%s-openft" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "openft.labels" -}}
app.kubernetes.io/name: openft
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "openft.databaseSecret" -}}
{{- if .Values.existingSecret.database -}}
{{ .Values.existingSecret.database }}
{{- else -}}
{{ include "openft.fullname" . }}-database
{{- end -}}
{{- end -}}

{{- define "openft.runtimeSecret" -}}
{{- if .Values.existingSecret.runtime -}}
{{ .Values.existingSecret.runtime }}
{{- else -}}
{{ include "openft.fullname" . }}-runtime
{{- end -}}
{{- end -}}

{{/* OPENFT_DATABASE_URL: only for the API, the scheduler and the migration Job. */}}
{{- define "openft.databaseEnv" -}}
- name: OPENFT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "openft.databaseSecret" . }}
      key: OPENFT_DATABASE_URL
{{- end -}}

{{/* Queue and artifact-store credentials: every long-running role, GPU workers included. */}}
{{- define "openft.runtimeEnv" -}}
- name: OPENFT_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "openft.runtimeSecret" . }}
      key: OPENFT_REDIS_URL
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "openft.runtimeSecret" . }}
      key: AWS_ACCESS_KEY_ID
      optional: true
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "openft.runtimeSecret" . }}
      key: AWS_SECRET_ACCESS_KEY
      optional: true
- name: OPENFT_WANDB_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "openft.runtimeSecret" . }}
      key: OPENFT_WANDB_API_KEY
      optional: true
{{- end -}}
