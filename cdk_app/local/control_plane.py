"""The offline stand-in for ``boto3.client("bedrock")``: Bedrock's control plane, simulated.

Foundation models and system inference profiles (from the account's catalogue,
:mod:`cdk_app.local.catalogue`), model customization jobs (distillation), custom models, custom
model deployments and evaluation jobs. Requests go through :class:`cdk_app.local.client.
OfflineClient` (botocore's validation, Bedrock's server-side constraints, the call log).

Lifecycles advance per read, not per wall-clock second: a customization job reports
``InProgress`` for ``job_polls`` Get calls, then ``Completed`` (or ``Failed`` when its training
file breaks Bedrock's dataset rules, :func:`cdk_app.local.datasets.check_training_data`); a
deployment ``Creating`` for ``deployment_polls`` calls, then ``Active``; an evaluation job
``InProgress`` for ``evaluation_polls`` calls, then ``Completed`` after writing its judge output
(:func:`cdk_app.local.datasets.run_judge`). Stopping a job or an evaluation job reports
``Stopping`` once, then ``Stopped``. A test may script the statuses a job or a deployment reports
instead (:class:`cdk_app.local.account.Script`). Resources are created idempotently: the same
name with the same client request token returns the existing one; the same name with another
token is a ``ConflictException``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from cdk_app.local.account import CustomModel, Deployment, EvaluationJob, Job
from cdk_app.local.answers import OFFLINE_LABEL
from cdk_app.local.catalogue import (
    GEOGRAPHY_NAMES,
    PROFILE_GEOGRAPHIES,
    foundation_id,
    inference_profile_id,
    split_profile,
)
from cdk_app.local.client import OfflineClient, page
from cdk_app.local.datasets import JudgeFailed, check_training_data, custom_metric_definitions, run_judge

__all__ = ["OfflineBedrock"]


class OfflineBedrock(OfflineClient):
    """Stand-in for ``boto3.client("bedrock")``: see the module docstring."""

    _service = "bedrock"

    # ------------------------------------------------------------------ foundation models

    def get_foundation_model(self, **params: Any) -> dict[str, Any]:
        return self._call("GetFoundationModel", params, self._get_foundation_model)

    def _get_foundation_model(self, request: dict[str, Any]) -> dict[str, Any]:
        model_id = foundation_id(request["modelIdentifier"])
        model = self.account.foundation_models.get(model_id)
        if model is None:
            raise self._error(
                "GetFoundationModel",
                "ResourceNotFoundException",
                f"Model {model_id} not found in this region.",
                404,
            )
        lifecycle: dict[str, Any] = {"status": model.lifecycle}
        if model.legacy_time:
            lifecycle["legacyTime"] = model.legacy_time
        if model.end_of_life:
            lifecycle["endOfLifeTime"] = model.end_of_life
        details = {
            "modelArn": f"arn:aws:bedrock:{self.account.settings.region}::foundation-model/{model.model_id}",
            "modelId": model.model_id,
            "modelName": model.name,
            "providerName": model.provider,
            "inputModalities": list(model.input_modalities),
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "customizationsSupported": list(model.customizations),
            "inferenceTypesSupported": list(model.inference_types),
            "modelLifecycle": lifecycle,
        }
        return {"modelDetails": details}

    def get_inference_profile(self, **params: Any) -> dict[str, Any]:
        return self._call("GetInferenceProfile", params, self._get_inference_profile)

    def _get_inference_profile(self, request: dict[str, Any]) -> dict[str, Any]:
        profile_id = inference_profile_id(request["inferenceProfileIdentifier"])
        geography, model_id = split_profile(profile_id, self.account.foundation_models)
        model = self.account.foundation_models.get(model_id)
        if geography is None or model is None or "INFERENCE_PROFILE" not in model.inference_types:
            raise self._error(
                "GetInferenceProfile",
                "ResourceNotFoundException",
                f"Inference profile {profile_id} not found.",
                404,
            )
        regions = PROFILE_GEOGRAPHIES[geography] or (self.account.settings.region,)
        settings = self.account.settings
        return {
            "inferenceProfileName": f"{GEOGRAPHY_NAMES[geography]} {model.provider} {model.name}",
            "description": f"Routes requests to {model.provider} {model.name} in {geography} regions.",
            "inferenceProfileArn": f"arn:aws:bedrock:{settings.region}:{settings.account}:inference-profile/{profile_id}",
            "models": [
                {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}"} for region in regions
            ],
            "inferenceProfileId": profile_id,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        }

    # ------------------------------------------------------------------ customization jobs

    def create_model_customization_job(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateModelCustomizationJob", params, self._create_job)

    def _create_job(self, request: dict[str, Any]) -> dict[str, Any]:
        operation = "CreateModelCustomizationJob"
        account = self.account
        existing = next((job for job in account.jobs.values() if job.name == request["jobName"]), None)
        if existing is not None:
            if existing.token == request["clientRequestToken"]:
                return {"jobArn": existing.arn}  # an idempotent retry
            raise self._error(
                operation, "ConflictException", f"A job named {request['jobName']} already exists.", 409
            )
        base_id = foundation_id(request["baseModelIdentifier"])
        base = self.account.foundation_models.get(base_id)
        if base is None:
            raise self._error(operation, "ValidationException", f"The base model {base_id} is not valid.")
        kind = request.get("customizationType", "FINE_TUNING")
        if kind not in base.customizations:
            raise self._error(
                operation,
                "ValidationException",
                f"The base model {base_id} does not support {kind} customization.",
            )
        if kind == "DISTILLATION":
            self._check_teacher(operation, request)
        training = request["trainingDataConfig"]
        if not training.get("s3Uri") and not training.get("invocationLogsConfig"):
            raise self._error(
                operation, "ValidationException", "trainingDataConfig needs s3Uri or invocationLogsConfig."
            )
        now = account.clock()
        job = Job(
            arn=account.arn(
                f"model-customization-job/{base_id}/{account.resource_id('job', request['jobName'])}"
            ),
            name=request["jobName"],
            token=request["clientRequestToken"],
            request=request,
            base_model_id=base_id,
            created=now,
        )
        if training.get("s3Uri"):
            job.training_records, job.failure = check_training_data(account.s3, training["s3Uri"])
        account.jobs[job.arn] = job
        return {"jobArn": job.arn}

    def _check_teacher(self, operation: str, request: Mapping[str, Any]) -> None:
        distillation = (request.get("customizationConfig") or {}).get("distillationConfig")
        if not distillation:
            raise self._error(
                operation, "ValidationException", "DISTILLATION needs customizationConfig.distillationConfig."
            )
        teacher_id = inference_profile_id(
            foundation_id(distillation["teacherModelConfig"]["teacherModelIdentifier"])
        )
        _, teacher_model_id = split_profile(teacher_id, self.account.foundation_models)
        teacher = self.account.foundation_models.get(teacher_model_id)
        if teacher is None or not teacher.teacher:
            raise self._error(
                operation, "ValidationException", f"{teacher_id} is not a supported teacher model."
            )
        if teacher.end_of_life and self.account.clock() >= teacher.end_of_life:
            raise self._error(
                operation, "ValidationException", f"The teacher model {teacher_id} has reached end of life."
            )

    def get_model_customization_job(self, **params: Any) -> dict[str, Any]:
        return self._call("GetModelCustomizationJob", params, self._get_job)

    def _find_job(self, operation: str, identifier: str) -> Job:
        job = self.account.jobs.get(identifier) or next(
            (job for job in self.account.jobs.values() if job.name == identifier), None
        )
        if job is None:
            raise self._error(
                operation, "ResourceNotFoundException", f"Could not find job {identifier}.", 404
            )
        return job

    def _get_job(self, request: dict[str, Any]) -> dict[str, Any]:
        job = self._find_job("GetModelCustomizationJob", request["jobIdentifier"])
        self._advance_job(job)
        return self._describe_job(job)

    def _advance_job(self, job: Job) -> None:
        job.reads += 1
        scripted = self.account.script.job_statuses
        if scripted:
            self._settle_job(job, scripted[min(job.reads, len(scripted)) - 1])
        elif job.status == "Stopping":
            self._settle_job(job, "Stopped")
        elif job.status == "InProgress" and job.reads > self.account.settings.job_polls:
            self._settle_job(job, "Failed" if job.failure else "Completed")

    def _settle_job(self, job: Job, status: str) -> None:
        """Move a job to `status`: an ended job gets its end time, a completed one its custom model."""
        account = self.account
        job.status = status
        if status in {"Completed", "Failed", "Stopped"}:
            job.ended = job.ended or account.clock()
        if status == "Failed":
            job.failure = job.failure or account.script.job_failure_message
        if status == "Completed" and job.model_arn is None:
            model_arn = account.arn(
                f"custom-model/{job.base_model_id}/{account.resource_id('model', job.name)}"
            )
            job.model_arn = model_arn
            account.custom_models[model_arn] = CustomModel(
                model_arn, job.request["customModelName"], job, job.ended or account.clock()
            )

    def _describe_job(self, job: Job) -> dict[str, Any]:
        request = job.request
        region = self.account.settings.region
        described: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "outputModelName": request["customModelName"],
            "clientRequestToken": job.token,
            "roleArn": request["roleArn"],
            "status": job.status,
            "creationTime": job.created,
            "lastModifiedTime": job.ended or job.created,
            "baseModelArn": f"arn:aws:bedrock:{region}::foundation-model/{job.base_model_id}",
            "trainingDataConfig": request["trainingDataConfig"],
            "validationDataConfig": request.get("validationDataConfig", {"validators": []}),
            "outputDataConfig": request["outputDataConfig"],
            "customizationType": request.get("customizationType", "FINE_TUNING"),
        }
        for key in ("hyperParameters", "customizationConfig", "vpcConfig"):
            if key in request:
                described[key] = request[key]
        if job.ended:
            described["endTime"] = job.ended
        if job.status == "Failed":
            described["failureMessage"] = f"{OFFLINE_LABEL} {job.failure}"
        if job.model_arn:
            described["outputModelArn"] = job.model_arn
            rng = random.Random(f"{self.account.settings.seed}:loss:{job.name}")
            described["trainingMetrics"] = {"trainingLoss": round(rng.uniform(0.05, 0.3), 4)}
        return described

    def list_model_customization_jobs(self, **params: Any) -> dict[str, Any]:
        return self._call("ListModelCustomizationJobs", params, self._list_jobs)

    def _list_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        region = self.account.settings.region
        jobs = sorted(self.account.jobs.values(), key=lambda job: job.created, reverse=True)
        summaries = []
        for job in jobs:
            if request.get("statusEquals") and job.status != request["statusEquals"]:
                continue
            if request.get("nameContains") and request["nameContains"] not in job.name:
                continue
            summary: dict[str, Any] = {
                "jobArn": job.arn,
                "baseModelArn": f"arn:aws:bedrock:{region}::foundation-model/{job.base_model_id}",
                "jobName": job.name,
                "status": job.status,
                "creationTime": job.created,
                "lastModifiedTime": job.ended or job.created,
                "customModelName": job.request["customModelName"],
                "customizationType": job.request.get("customizationType", "FINE_TUNING"),
            }
            if job.ended:
                summary["endTime"] = job.ended
            if job.model_arn:
                summary["customModelArn"] = job.model_arn
            summaries.append(summary)
        return page(summaries, request, "modelCustomizationJobSummaries")

    def stop_model_customization_job(self, **params: Any) -> dict[str, Any]:
        return self._call("StopModelCustomizationJob", params, self._stop_job)

    def _stop_job(self, request: dict[str, Any]) -> dict[str, Any]:
        job = self._find_job("StopModelCustomizationJob", request["jobIdentifier"])
        if job.status != "InProgress":
            raise self._error(
                "StopModelCustomizationJob",
                "ValidationException",
                f"Job {job.name} is {job.status}; only InProgress jobs can be stopped.",
            )
        job.status = "Stopping"
        return {}

    # ------------------------------------------------------------------ custom models

    def list_custom_models(self, **params: Any) -> dict[str, Any]:
        return self._call("ListCustomModels", params, self._list_models)

    def _list_models(self, request: dict[str, Any]) -> dict[str, Any]:
        region = self.account.settings.region
        summaries = []
        for model in sorted(
            self.account.custom_models.values(), key=lambda model: model.created, reverse=True
        ):
            if request.get("nameContains") and request["nameContains"] not in model.name:
                continue
            base = self.account.foundation_models[model.job.base_model_id]
            summaries.append(
                {
                    "modelArn": model.arn,
                    "modelName": model.name,
                    "creationTime": model.created,
                    "baseModelArn": f"arn:aws:bedrock:{region}::foundation-model/{base.model_id}",
                    "baseModelName": base.name,
                    "customizationType": model.job.request.get("customizationType", "FINE_TUNING"),
                    "ownerAccountId": self.account.settings.account,
                    "modelStatus": "Active",
                }
            )
        return page(summaries, request, "modelSummaries")

    def delete_custom_model(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteCustomModel", params, self._delete_model)

    def _delete_model(self, request: dict[str, Any]) -> dict[str, Any]:
        identifier = request["modelIdentifier"]
        model = self.account.custom_models.get(identifier) or next(
            (model for model in self.account.custom_models.values() if model.name == identifier), None
        )
        if model is None:
            raise self._error(
                "DeleteCustomModel", "ResourceNotFoundException", f"Could not find model {identifier}.", 404
            )
        if any(deployment.model_arn == model.arn for deployment in self.account.deployments.values()):
            raise self._error(
                "DeleteCustomModel",
                "ValidationException",
                f"Model {model.name} has deployments; delete them first.",
            )
        del self.account.custom_models[model.arn]
        return {}

    # ------------------------------------------------------------------ deployments

    def create_custom_model_deployment(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateCustomModelDeployment", params, self._create_deployment)

    def _create_deployment(self, request: dict[str, Any]) -> dict[str, Any]:
        operation = "CreateCustomModelDeployment"
        account = self.account
        name = request["modelDeploymentName"]
        existing = next((item for item in account.deployments.values() if item.name == name), None)
        if existing is not None:
            if existing.token == request["clientRequestToken"]:
                return {"customModelDeploymentArn": existing.arn}
            raise self._error(
                operation, "ConflictException", f"A deployment named {name} already exists.", 409
            )
        if request["modelArn"] not in account.custom_models:
            raise self._error(
                operation, "ResourceNotFoundException", f"Could not find model {request['modelArn']}.", 404
            )
        deployment = Deployment(
            arn=account.arn(f"custom-model-deployment/{account.resource_id('deployment', name)}"),
            name=name,
            token=request["clientRequestToken"],
            model_arn=request["modelArn"],
            description=request.get("description"),
            created=account.clock(),
        )
        account.deployments[deployment.arn] = deployment
        return {"customModelDeploymentArn": deployment.arn}

    def _find_deployment(self, operation: str, identifier: str) -> Deployment:
        deployment = self.account.deployments.get(identifier) or next(
            (item for item in self.account.deployments.values() if item.name == identifier), None
        )
        if deployment is None:
            raise self._error(
                operation, "ResourceNotFoundException", f"Could not find deployment {identifier}.", 404
            )
        return deployment

    def get_custom_model_deployment(self, **params: Any) -> dict[str, Any]:
        return self._call("GetCustomModelDeployment", params, self._get_deployment)

    def _get_deployment(self, request: dict[str, Any]) -> dict[str, Any]:
        deployment = self._find_deployment(
            "GetCustomModelDeployment", request["customModelDeploymentIdentifier"]
        )
        deployment.reads += 1
        scripted = self.account.script.deployment_statuses
        if scripted:
            status = scripted[min(deployment.reads, len(scripted)) - 1]
        elif deployment.status == "Creating" and deployment.reads > self.account.settings.deployment_polls:
            status = "Active"
        else:
            status = deployment.status
        if status != deployment.status:
            deployment.status, deployment.updated = status, self.account.clock()
            if status == "Failed":
                deployment.failure = self.account.script.deployment_failure_message
        described: dict[str, Any] = {
            "customModelDeploymentArn": deployment.arn,
            "modelDeploymentName": deployment.name,
            "modelArn": deployment.model_arn,
            "createdAt": deployment.created,
            "status": deployment.status,
            "lastUpdatedAt": deployment.updated or deployment.created,
        }
        if deployment.description is not None:
            described["description"] = deployment.description
        if deployment.failure is not None:
            described["failureMessage"] = f"{OFFLINE_LABEL} {deployment.failure}"
        return described

    def list_custom_model_deployments(self, **params: Any) -> dict[str, Any]:
        return self._call("ListCustomModelDeployments", params, self._list_deployments)

    def _list_deployments(self, request: dict[str, Any]) -> dict[str, Any]:
        summaries = []
        for item in sorted(self.account.deployments.values(), key=lambda item: item.created, reverse=True):
            if request.get("nameContains") and request["nameContains"] not in item.name:
                continue
            if request.get("statusEquals") and item.status != request["statusEquals"]:
                continue
            if request.get("modelArnEquals") and item.model_arn != request["modelArnEquals"]:
                continue
            summaries.append(
                {
                    "customModelDeploymentArn": item.arn,
                    "customModelDeploymentName": item.name,
                    "modelArn": item.model_arn,
                    "createdAt": item.created,
                    "status": item.status,
                    "lastUpdatedAt": item.updated or item.created,
                }
            )
        return page(summaries, request, "modelDeploymentSummaries")

    def delete_custom_model_deployment(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteCustomModelDeployment", params, self._delete_deployment)

    def _delete_deployment(self, request: dict[str, Any]) -> dict[str, Any]:
        deployment = self._find_deployment(
            "DeleteCustomModelDeployment", request["customModelDeploymentIdentifier"]
        )
        del self.account.deployments[deployment.arn]
        return {}

    # ------------------------------------------------------------------ evaluation jobs

    def create_evaluation_job(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateEvaluationJob", params, self._create_evaluation)

    def _create_evaluation(self, request: dict[str, Any]) -> dict[str, Any]:
        operation = "CreateEvaluationJob"
        account = self.account
        name = request["jobName"]
        existing = next((item for item in account.evaluations.values() if item.name == name), None)
        if existing is not None:
            if existing.token == request["clientRequestToken"]:
                return {"jobArn": existing.arn}
            raise self._error(
                operation, "ConflictException", f"An evaluation job named {name} already exists.", 409
            )
        automated = request["evaluationConfig"].get("automated")
        if not automated:
            raise self._error(
                operation,
                "ValidationException",
                f"{OFFLINE_LABEL} only automated evaluation jobs are simulated.",
            )
        for definition in custom_metric_definitions(automated):
            for item in definition.get("ratingScale", []):
                if len(item["definition"]) > 100:
                    raise self._error(
                        operation,
                        "ValidationException",
                        f"Rating scale definitions of custom metric {definition['name']} must be at most 100 characters.",
                    )
        evaluation = EvaluationJob(
            arn=account.arn(f"evaluation-job/{account.resource_id('evaluation', name)}"),
            name=name,
            token=request["clientRequestToken"],
            request=request,
            created=account.clock(),
        )
        account.evaluations[evaluation.arn] = evaluation
        return {"jobArn": evaluation.arn}

    def get_evaluation_job(self, **params: Any) -> dict[str, Any]:
        return self._call("GetEvaluationJob", params, self._get_evaluation)

    def _find_evaluation(self, operation: str, identifier: str) -> EvaluationJob:
        evaluation = self.account.evaluations.get(identifier)
        if evaluation is None:
            raise self._error(
                operation, "ResourceNotFoundException", f"Could not find evaluation job {identifier}.", 404
            )
        return evaluation

    def _get_evaluation(self, request: dict[str, Any]) -> dict[str, Any]:
        evaluation = self._find_evaluation("GetEvaluationJob", request["jobIdentifier"])
        evaluation.reads += 1
        if evaluation.status == "Stopping":
            evaluation.status, evaluation.updated = "Stopped", self.account.clock()
        elif evaluation.status == "InProgress" and evaluation.reads > self.account.settings.evaluation_polls:
            evaluation.updated = self.account.clock()
            try:
                evaluation.output_key = run_judge(self.account, evaluation)
                evaluation.status = "Completed"
            except JudgeFailed as exc:
                evaluation.status = "Failed"
                evaluation.failures.append(f"{OFFLINE_LABEL} {exc}")
        return self._describe_evaluation(evaluation)

    def _describe_evaluation(self, evaluation: EvaluationJob) -> dict[str, Any]:
        request = evaluation.request
        described: dict[str, Any] = {
            "jobName": evaluation.name,
            "status": evaluation.status,
            "jobArn": evaluation.arn,
            "roleArn": request["roleArn"],
            "jobType": "Automated",
            "applicationType": request.get("applicationType", "ModelEvaluation"),
            "evaluationConfig": request["evaluationConfig"],
            "inferenceConfig": request["inferenceConfig"],
            "outputDataConfig": request["outputDataConfig"],
            "creationTime": evaluation.created,
            "lastModifiedTime": evaluation.updated or evaluation.created,
        }
        if "jobDescription" in request:
            described["jobDescription"] = request["jobDescription"]
        if evaluation.failures:
            described["failureMessages"] = list(evaluation.failures)
        return described

    def stop_evaluation_job(self, **params: Any) -> dict[str, Any]:
        return self._call("StopEvaluationJob", params, self._stop_evaluation)

    def _stop_evaluation(self, request: dict[str, Any]) -> dict[str, Any]:
        evaluation = self._find_evaluation("StopEvaluationJob", request["jobIdentifier"])
        if evaluation.status != "InProgress":
            raise self._error(
                "StopEvaluationJob",
                "ConflictException",
                f"Evaluation job {evaluation.name} is {evaluation.status}; only InProgress jobs can be stopped.",
                409,
            )
        evaluation.status = "Stopping"
        return {}

    def list_evaluation_jobs(self, **params: Any) -> dict[str, Any]:
        return self._call("ListEvaluationJobs", params, self._list_evaluations)

    def _list_evaluations(self, request: dict[str, Any]) -> dict[str, Any]:
        summaries = []
        for item in sorted(self.account.evaluations.values(), key=lambda item: item.created, reverse=True):
            if request.get("statusEquals") and item.status != request["statusEquals"]:
                continue
            if request.get("nameContains") and request["nameContains"] not in item.name:
                continue
            automated = item.request["evaluationConfig"]["automated"]
            summaries.append(
                {
                    "jobArn": item.arn,
                    "jobName": item.name,
                    "status": item.status,
                    "creationTime": item.created,
                    "jobType": "Automated",
                    "evaluationTaskTypes": [
                        config["taskType"] for config in automated["datasetMetricConfigs"]
                    ],
                    "applicationType": item.request.get("applicationType", "ModelEvaluation"),
                }
            )
        return page(summaries, request, "jobSummaries")
