// The Avro schemas KPC speaks, copied from the published Kaa RFCs (1/KP, 4/ESP, 9/ELCE, 16/ECAP,
// 17/SCMP, 22/CAP) with `doc` strings removed. Record names, field names, types, order and defaults are
// exactly as published: test/unit/avro-schemas.test.ts pins each one's canonical fingerprint.
// The project never reads the published files at run or test time.

/** 0004-client-data.avsc */
export const clientDataSchema = {
  "namespace": "org.kaaproject.ipc.esp.gen.v1",
  "name": "ClientData",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "appVersionName",
      "type": "string"
    },
    {
      "name": "endpointId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "resourcePath",
      "type": "string"
    },
    {
      "name": "requestId",
      "type": [
        "int",
        "null"
      ]
    },
    {
      "name": "payload",
      "type": "bytes"
    },
    {
      "name": "configName",
      "type": [
        "null",
        "string"
      ],
      "default": null
    }
  ]
} as const;

/** 0004-extension-data.avsc */
export const extensionDataSchema = {
  "namespace": "org.kaaproject.ipc.esp.gen.v1",
  "name": "ExtensionData",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "appVersionName",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "extensionInstanceName",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "endpointId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "resourcePath",
      "type": "string"
    },
    {
      "name": "requestId",
      "type": [
        "int",
        "null"
      ]
    },
    {
      "name": "payload",
      "type": [
        "bytes",
        "null"
      ]
    },
    {
      "name": "statusCode",
      "type": "int"
    },
    {
      "name": "reasonPhrase",
      "type": [
        "null",
        "string"
      ],
      "default": null
    }
  ]
} as const;

/** 0009-ep-connected.avsc */
export const endpointConnectedSchema = {
  "namespace": "org.kaaproject.ipc.event.gen.v1.endpoint.connectivity",
  "name": "ConnectedEvent",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "endpoints",
      "type": {
        "type": "map",
        "values": "string"
      }
    },
    {
      "name": "originatorReplicaId",
      "type": "string"
    }
  ]
} as const;

/** 0009-ep-disconnected.avsc */
export const endpointDisconnectedSchema = {
  "namespace": "org.kaaproject.ipc.event.gen.v1.endpoint.connectivity",
  "name": "DisconnectedEvent",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "endpoints",
      "type": {
        "type": "map",
        "values": "string"
      }
    },
    {
      "name": "originatorReplicaId",
      "type": "string"
    }
  ]
} as const;

/** 0016-client-username-password-validation-request.avsc */
export const usernamePasswordRequestSchema = {
  "namespace": "org.kaaproject.ipc.ecap.gen.v1",
  "name": "ClientUsernamePasswordValidationRequest",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "username",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "password",
      "type": [
        "string",
        "null"
      ]
    }
  ]
} as const;

/** 0016-client-username-password-validation-response.avsc */
export const usernamePasswordResponseSchema = {
  "namespace": "org.kaaproject.ipc.ecap.gen.v1",
  "name": "ClientUsernamePasswordValidationResponse",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "credentialId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "clientId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "statusCode",
      "type": "int"
    },
    {
      "name": "reasonPhrase",
      "type": [
        "null",
        "string"
      ],
      "default": null
    }
  ]
} as const;

/** 0016-client-certificate-validation-request.avsc */
export const certificateRequestSchema = {
  "namespace": "org.kaaproject.ipc.ecap.gen.v1",
  "name": "ClientCertificateValidationRequest",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "issuer",
      "type": "string"
    },
    {
      "name": "serialNumber",
      "type": "string"
    }
  ]
} as const;

/** 0016-client-certificate-validation-response.avsc */
export const certificateResponseSchema = {
  "namespace": "org.kaaproject.ipc.ecap.gen.v1",
  "name": "ClientCertificateValidationResponse",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "credentialId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "clientId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "statusCode",
      "type": "int"
    },
    {
      "name": "reasonPhrase",
      "type": [
        "null",
        "string"
      ],
      "default": null
    }
  ]
} as const;

/** 0016-endpoint-token-validation-request.avsc */
export const tokenRequestSchema = {
  "namespace": "org.kaaproject.ipc.ecap.gen.v1",
  "name": "EndpointTokenValidationRequest",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "appName",
      "type": "string"
    },
    {
      "name": "token",
      "type": "string"
    }
  ]
} as const;

/** 0016-endpoint-token-validation-response.avsc */
export const tokenResponseSchema = {
  "namespace": "org.kaaproject.ipc.ecap.gen.v1",
  "name": "EndpointTokenValidationResponse",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "tokenId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "endpointId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "statusCode",
      "type": "int"
    },
    {
      "name": "reasonPhrase",
      "type": [
        "null",
        "string"
      ],
      "default": null
    }
  ]
} as const;

/** 0016-endpoint-token-revoked.avsc */
export const tokenRevokedSchema = {
  "namespace": "org.kaaproject.ipc.ecap.gen.v1",
  "name": "EndpointTokenRevokedEvent",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "appName",
      "type": "string"
    },
    {
      "name": "endpointId",
      "type": "string"
    },
    {
      "name": "tokenIds",
      "type": {
        "type": "array",
        "items": "string"
      }
    },
    {
      "name": "originatorReplicaId",
      "type": "string"
    }
  ]
} as const;

/** 0016-client-credential-revoked.avsc */
export const credentialRevokedSchema = {
  "namespace": "org.kaaproject.ipc.ecap.gen.v1",
  "name": "ClientCredentialRevokedEvent",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "credentialId",
      "type": "string"
    },
    {
      "name": "originatorReplicaId",
      "type": "string"
    }
  ]
} as const;

/** 0017-broadcast_configuration_update.avsc */
export const broadcastConfigurationUpdateSchema = {
  "namespace": "org.kaaproject.scmp.event.gen.v1.service.configuration",
  "name": "BroadcastConfigurationUpdateEvent",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "originatorReplicaId",
      "type": "string"
    },
    {
      "name": "tenantID",
      "type": [
        "null",
        "string"
      ],
      "default": null
    },
    {
      "name": "appName",
      "type": [
        "null",
        "string"
      ],
      "default": null
    },
    {
      "name": "appVerName",
      "type": [
        "null",
        "string"
      ],
      "default": null
    }
  ]
} as const;

/** 0017-service_specific_configuration_update.avsc */
export const serviceConfigurationUpdateSchema = {
  "namespace": "org.kaaproject.scmp.event.gen.v1.service.configuration",
  "name": "ServiceSpecificConfigurationUpdateEvent",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "tenantID",
      "type": "string"
    },
    {
      "name": "appName",
      "type": [
        "null",
        "string"
      ],
      "default": null
    },
    {
      "name": "appVerName",
      "type": [
        "null",
        "string"
      ],
      "default": null
    }
  ]
} as const;

/** 0022-basic-authentication-request.avsc */
export const capBasicRequestSchema = {
  "namespace": "org.kaaproject.ipc.cap.gen.v1",
  "name": "ClientBasicAuthenticationRequest",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "tenantId",
      "type": "string"
    },
    {
      "name": "username",
      "type": "string"
    },
    {
      "name": "password",
      "type": "string"
    }
  ]
} as const;

/** 0022-basic-authentication-response.avsc */
export const capBasicResponseSchema = {
  "namespace": "org.kaaproject.ipc.cap.gen.v1",
  "name": "ClientBasicAuthenticationResponse",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "credentialsId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "clientId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "statusCode",
      "type": "int"
    },
    {
      "name": "reasonPhrase",
      "type": [
        "null",
        "string"
      ],
      "default": null
    }
  ]
} as const;

/** 0022-certificate-authentication-request.avsc */
export const capCertificateRequestSchema = {
  "namespace": "org.kaaproject.ipc.cap.gen.v1",
  "name": "ClientCertificateAuthenticationRequest",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "issuer",
      "type": "string"
    },
    {
      "name": "serialNumber",
      "type": "string"
    }
  ]
} as const;

/** 0022-certificate-authentication-response.avsc */
export const capCertificateResponseSchema = {
  "namespace": "org.kaaproject.ipc.cap.gen.v1",
  "name": "ClientCertificateAuthenticationResponse",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "tenantId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "credentialsId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "clientId",
      "type": [
        "string",
        "null"
      ]
    },
    {
      "name": "statusCode",
      "type": "int"
    },
    {
      "name": "reasonPhrase",
      "type": [
        "null",
        "string"
      ],
      "default": null
    }
  ]
} as const;

/** 0022-credentials-revoked.avsc */
export const capCredentialsRevokedSchema = {
  "namespace": "org.kaaproject.ipc.cap.gen.v1",
  "name": "ClientCredentialsRevokedEvent",
  "type": "record",
  "fields": [
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    },
    {
      "name": "tenantId",
      "type": "string"
    },
    {
      "name": "credentialsId",
      "type": "string"
    },
    {
      "name": "originatorReplicaId",
      "type": "string"
    }
  ]
} as const;

/** 0009-ep-traffic-stats.avsc */
export const trafficReportSchema = {
  "namespace": "org.kaaproject.ipc.event.gen.v1.endpoint.traffic.reporting",
  "name": "TrafficReportEvent",
  "type": "record",
  "fields": [
    {
      "name": "tenantTrafficStats",
      "type": {
        "type": "map",
        "values": {
          "name": "appTrafficStats",
          "type": "map",
          "values": {
            "name": "endpointTrafficStats",
            "type": "map",
            "values": {
              "name": "trafficStat",
              "type": "record",
              "fields": [
                {
                  "name": "totalReceivedPayload",
                  "type": "long",
                  "default": 0
                },
                {
                  "name": "totalSentPayload",
                  "type": "long",
                  "default": 0
                },
                {
                  "name": "totalReceivedMessageCount",
                  "type": "long",
                  "default": 0
                },
                {
                  "name": "totalSentMessageCount",
                  "type": "long",
                  "default": 0
                }
              ]
            }
          }
        }
      }
    },
    {
      "name": "timeFrom",
      "type": "long"
    },
    {
      "name": "timeTo",
      "type": "long"
    },
    {
      "name": "correlationId",
      "type": "string"
    },
    {
      "name": "originatorReplicaId",
      "type": "string"
    },
    {
      "name": "timestamp",
      "type": "long"
    },
    {
      "name": "timeout",
      "type": "long",
      "default": 0
    }
  ]
} as const;
