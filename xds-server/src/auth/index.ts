// Sidecar authentication in Kubernetes mode: decisions (pure), the review cache, the TokenReview-backed
// authenticator and the gRPC gate of the TLS listener.
export { TOKEN_AUDIENCE, authorizeNode, bearerToken, identityFromReview, nodeIdOf, tokenExpiry } from './decide.js';
export type { Decision, Refusal, TokenReviewStatus, WorkloadIdentity } from './decide.js';
export { ReviewCache, DEFAULT_REVIEW_CACHE } from './cache.js';
export type { ReviewCacheOptions } from './cache.js';
export { TokenAuthenticator, kubeTokenReviewer } from './authenticator.js';
export type { AuthenticatorOptions, AuthenticatorStats, TokenReviewer } from './authenticator.js';
export { authenticated, authorizeCall, identityOf } from './grpc.js';
