// Every NATS subject KPC publishes to or subscribes on, in one place (README lists them too).

export type EcapResponseType = 'client-username-password-response' | 'client-certificate-response' | 'ep-token-response';

export type CapResponseType = 'basic-response' | 'certificate-response';

export type ScmpAction = 'upsert' | 'delete';

export const subjects = {
  /** 16/ECAP requests to the credential provider (targeted). */
  usernamePasswordRequest: (cm: string) => `kaa.v1.service.${cm}.ecap.client-username-password-request`,
  certificateRequest: (cm: string) => `kaa.v1.service.${cm}.ecap.client-certificate-request`,
  tokenRequest: (cm: string) => `kaa.v1.service.${cm}.ecap.ep-token-request`,
  /** Where this replica receives ECAP responses (session affinity, 3/ISM). */
  ecapResponse: (replicaId: string, type: EcapResponseType) => `kaa.v1.replica.${replicaId}.ecap.${type}`,
  ecapResponses: (replicaId: string) => `kaa.v1.replica.${replicaId}.ecap.*`,

  /** 16/ECAP revocation broadcasts from any provider. */
  tokenRevoked: 'kaa.v1.events.*.endpoint.token.revoked',
  credentialRevoked: 'kaa.v1.events.*.client.credential.revoked',

  /** 22/CAP requests to the Client Credentials Management service, and this replica's reply subjects. */
  capBasicRequest: (ccm: string) => `kaa.v1.service.${ccm}.cap.basic-request`,
  capCertificateRequest: (ccm: string) => `kaa.v1.service.${ccm}.cap.certificate-request`,
  capResponse: (replicaId: string, type: CapResponseType) => `kaa.v1.replica.${replicaId}.cap.${type}`,
  capResponses: (replicaId: string) => `kaa.v1.replica.${replicaId}.cap.*`,
  /** 22/CAP revocation broadcasts. */
  capBasicRevoked: 'kaa.v1.events.*.client-credentials.basic.revoked',
  capCertificateRevoked: 'kaa.v1.events.*.client-credentials.certificate.revoked',

  /** 4/ESP. */
  clientData: (extensionInstance: string) => `kaa.v1.service.${extensionInstance}.esp.ClientData`,
  replicaExtensionData: (replicaId: string) => `kaa.v1.replica.${replicaId}.esp.ExtensionData`,
  instanceExtensionData: (kpcInstance: string) => `kaa.v1.service.${kpcInstance}.esp.ExtensionData`,

  /** 9/ELCE. */
  endpointConnected: (kpcInstance: string) => `kaa.v1.events.${kpcInstance}.endpoint.connectivity.connected`,
  endpointDisconnected: (kpcInstance: string) => `kaa.v1.events.${kpcInstance}.endpoint.connectivity.disconnected`,
  connectivityEvents: 'kaa.v1.events.*.endpoint.connectivity.*',
  /** 9/ELCE endpoint traffic reports (Kaa 1.4). */
  trafficReport: (kpcInstance: string) => `kaa.v1.events.${kpcInstance}.endpoint.traffic-reporting.payload`,

  /** 17/SCMP configuration change events: broadcast by Tekton, and targeted at this service instance. */
  configurationBroadcast: (action: ScmpAction) => `kaa.v1.events.*.service.configuration.${action}`,
  serviceConfiguration: (instanceName: string, action: ScmpAction) => `kaa.v1.service.${instanceName}.scmp.configuration.${action}`,

  /** KPC's own: replica liveness within one KPC instance (cluster). */
  replicaHeartbeat: (kpcInstance: string) => `kaa.v1.service.${kpcInstance}.kpc.replica-heartbeat`,
  endpointSyncRequest: (replicaId: string) => `kaa.v1.replica.${replicaId}.kpc.endpoints-wanted`,
  endpointSyncAnswer: (replicaId: string) => `kaa.v1.replica.${replicaId}.kpc.endpoints-held`,
} as const;
