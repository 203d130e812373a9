"""Parameter errors that name the parameter: connexion's own say only what was wrong
("121 is greater than the maximum of 120") and then dump the schema."""
from connexion.validators import ParameterValidator
from connexion.validators.parameter import is_null, is_nullable
from jsonschema import Draft4Validator, ValidationError


class NamingParameterValidator(ParameterValidator):
    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        if value is None or (is_nullable(param) and is_null(value)):
            return ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        try:
            Draft4Validator(param.get("schema", param), format_checker=Draft4Validator.FORMAT_CHECKER).validate(value)
        except ValidationError as exc:
            return f"{parameter_type} parameter '{param['name']}': {exc.message}"
        return None
