-- Operator alerts (discovery, circuits, upstream configuration) were written under tenant
-- "default", so that tenant's keys read them and every other scope missed them. They belong to
-- the operator's tenant "_system" (recorder.SYSTEM_TENANT): admins see them, tenants do not.
UPDATE alerts SET tenant = '_system'
WHERE tenant = 'default'
  AND kind IN ('circuit_open', 'upstream_config', 'models_discovered', 'models_gone',
               'models_back', 'model_unpriced', 'price_changed');
